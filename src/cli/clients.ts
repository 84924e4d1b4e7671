import { wholeNumber } from "../config.js";
import {
  type Checked,
  type ClientFieldProblem,
  changeClient,
  checkClientChanges,
  checkNewClient,
  isPreviousSecretLifetime,
  MAX_PREVIOUS_SECRET_SECONDS,
  MAX_REDIRECT_URIS,
  registerClient,
  rotateClientSecret,
} from "../core/client-registry.js";
import { livePreviousSecret } from "../core/clients.js";
import { REDIRECT_URI_RULE } from "../core/redirect-uri.js";
import type { Runtime } from "../runtime.js";
import { everyRecord } from "../store/every-record.js";
import type { ClientRecord } from "../store/types.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

export interface CreateClientOptions {
  name?: string;
  redirectUris: string[];
  scope?: string;
}

/** A registration problem, worded with the command's own flags. */
function usageMessage(p: ClientFieldProblem): string {
  if (p.field === "name") return "--name is required";
  if (p.field === "redirect_uris") {
    if (p.problem === "missing") return "at least one --redirect-uri is required";
    if (p.problem === "too_many") return `at most ${MAX_REDIRECT_URIS} --redirect-uri values are allowed`;
    return `--redirect-uri ${p.value} is not allowed: ${REDIRECT_URI_RULE}`;
  }
  if (p.problem === "missing") return '--scope is required, e.g. --scope "design:meta:read profile:read"';
  return `unknown scope: ${p.value}`;
}

function orUsageError<T>(checked: Checked<T>): T {
  if (!checked.ok) throw new UsageError(usageMessage(checked.problem));
  return checked.value;
}

export async function createClient(
  runtime: Runtime,
  options: CreateClientOptions,
): Promise<{ client: ClientRecord; secret: string }> {
  return registerClient(runtime.core, orUsageError(checkNewClient(options)));
}

type ClientsValues = {
  name?: string;
  "redirect-uri"?: string[];
  scope?: string;
  json?: boolean;
  "previous-valid-for"?: string;
};

const clientIdOf = (sub: string | undefined, positionals: string[]) => {
  const id = positionals[0];
  if (!id) throw new UsageError(`clients ${sub} needs a client id`);
  return id;
};

function changesOf(values: ClientsValues) {
  const changes = orUsageError(
    checkClientChanges({ name: values.name, redirectUris: values["redirect-uri"], scope: values.scope }),
  );
  if (Object.keys(changes).length === 0) throw new UsageError("clients update needs --name, --redirect-uri or --scope");
  return changes;
}

const newClientOf = (values: ClientsValues): CreateClientOptions => ({
  name: values.name,
  redirectUris: values["redirect-uri"] ?? [],
  scope: values.scope,
});

/** Refuses what `clients SUB` can be refused for without the database, before anything is opened or made. */
export function checkClientsArguments(sub: string | undefined, positionals: string[], values: ClientsValues): void {
  if (sub === "create") orUsageError(checkNewClient(newClientOf(values)));
  if (sub === "show" || sub === "delete" || sub === "update" || sub === "rotate-secret") clientIdOf(sub, positionals);
  if (sub === "update") changesOf(values);
  if (sub === "rotate-secret") previousLifetime(values["previous-valid-for"]);
}

function describe(client: ClientRecord, now: number) {
  const previous = livePreviousSecret(client, now);
  return {
    client_id: client.id,
    name: client.name,
    redirect_uris: client.redirectUris,
    scope: client.scopes.join(" "),
    created_at: new Date(client.createdAt).toISOString(),
    ...(previous && { previous_secret_expires_at: new Date(previous.expiresAt).toISOString() }),
  };
}

export async function runClientsCommand(
  runtime: Runtime,
  sub: string | undefined,
  positionals: string[],
  values: ClientsValues,
): Promise<number> {
  const json = values.json === true;
  const store = runtime.core.store;
  const needId = () => clientIdOf(sub, positionals);
  switch (sub) {
    case "create": {
      const { client, secret } = await createClient(runtime, newClientOf(values));
      print(json, { ...describe(client, runtime.core.now()), client_secret: secret });
      if (!json) process.stdout.write("\nThe client secret is shown only this once: store it now.\n");
      return 0;
    }
    case "list": {
      const clients: ClientRecord[] = [];
      for await (const client of everyRecord((after, limit) => store.listClients(after, limit))) clients.push(client);
      // Oldest first, as people read a list of integrations; the store pages them in id order.
      clients.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
      if (json) process.stdout.write(`${JSON.stringify(clients.map((c) => describe(c, runtime.core.now())))}\n`);
      else for (const c of clients) process.stdout.write(`${c.id}  ${c.name}  ${c.scopes.join(" ")}\n`);
      return 0;
    }
    case "show": {
      const client = await store.getClient(needId());
      if (!client) return notFound(needId());
      print(json, describe(client, runtime.core.now()));
      return 0;
    }
    case "delete": {
      if (!(await store.deleteClient(needId()))) return notFound(needId());
      process.stdout.write(`deleted ${needId()} and every token issued to it\n`);
      return 0;
    }
    case "update": {
      const id = needId();
      const changes = changesOf(values);
      const client = await changeClient(runtime.core, id, changes);
      if (!client) return notFound(id);
      print(json, describe(client, runtime.core.now()));
      return 0;
    }
    case "rotate-secret": {
      const rotated = await rotateClientSecret(runtime.core, needId(), previousLifetime(values["previous-valid-for"]));
      if (rotated === undefined) return notFound(needId());
      const { secret, previousExpiresAt } = rotated;
      const until = previousExpiresAt === undefined ? undefined : new Date(previousExpiresAt).toISOString();
      print(json, { client_id: needId(), client_secret: secret, ...(until && { previous_secret_expires_at: until }) });
      if (!json) {
        const old = until ? `The old secret keeps working until ${until}.` : "The old secret no longer works.";
        process.stdout.write(`\n${old} The new one is shown only this once.\n`);
      }
      return 0;
    }
    default:
      throw new UsageError(
        `unknown clients command: ${sub ?? "(none)"}; expected create, list, show, update, delete or rotate-secret`,
      );
  }
}

function previousLifetime(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const lifetime = wholeNumber(raw);
  if (!isPreviousSecretLifetime(lifetime)) {
    throw new UsageError(
      `--previous-valid-for must be a whole number of seconds from 1 to ${MAX_PREVIOUS_SECRET_SECONDS}`,
    );
  }
  return lifetime;
}

function notFound(id: string): number {
  process.stderr.write(`keyward: no client with id ${id}\n`);
  return 1;
}
