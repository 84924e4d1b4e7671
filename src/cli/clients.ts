import { generateClientId, generateClientSecret } from "../core/clients.js";
import { isRegistrableRedirectUri } from "../core/redirect-uri.js";
import { isKnownScope, parseScope } from "../core/scopes.js";
import type { Runtime } from "../runtime.js";
import type { ClientChanges, ClientRecord } from "../store/types.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

export const MAX_REDIRECT_URIS = 10;

export interface CreateClientOptions {
  name?: string;
  redirectUris: string[];
  scope?: string;
}

function validName(name: string | undefined): string {
  const trimmed = name?.trim();
  if (!trimmed) throw new UsageError("--name is required");
  return trimmed;
}

function validRedirectUris(uris: string[]): string[] {
  if (uris.length === 0) throw new UsageError("at least one --redirect-uri is required");
  if (uris.length > MAX_REDIRECT_URIS) {
    throw new UsageError(`at most ${MAX_REDIRECT_URIS} --redirect-uri values are allowed`);
  }
  for (const uri of uris) {
    if (!isRegistrableRedirectUri(uri)) {
      throw new UsageError(
        `--redirect-uri ${uri} is not allowed: use an absolute https URL (or http on localhost/127.0.0.1) without a fragment or credentials`,
      );
    }
  }
  return [...new Set(uris)];
}

function validScopes(scope: string | undefined): string[] {
  const scopes = parseScope(scope);
  if (scopes.length === 0) throw new UsageError('--scope is required, e.g. --scope "design:meta:read profile:read"');
  const unknown = scopes.filter((s) => !isKnownScope(s));
  if (unknown.length > 0) throw new UsageError(`unknown scope: ${unknown.join(" ")}`);
  return scopes;
}

export function validateNewClient(options: CreateClientOptions): {
  name: string;
  redirectUris: string[];
  scopes: string[];
} {
  return {
    name: validName(options.name),
    redirectUris: validRedirectUris(options.redirectUris),
    scopes: validScopes(options.scope),
  };
}

/** What `clients update` was asked to change, each part checked as `create` checks it. */
export function validateClientChanges(options: {
  name?: string;
  redirectUris?: string[];
  scope?: string;
}): ClientChanges {
  const changes: ClientChanges = {
    ...(options.name !== undefined && { name: validName(options.name) }),
    ...(options.redirectUris !== undefined && { redirectUris: validRedirectUris(options.redirectUris) }),
    ...(options.scope !== undefined && { scopes: validScopes(options.scope) }),
  };
  if (Object.keys(changes).length === 0) {
    throw new UsageError("clients update needs --name, --redirect-uri or --scope");
  }
  return changes;
}

export async function createClient(
  runtime: Runtime,
  options: CreateClientOptions,
): Promise<{ client: ClientRecord; secret: string }> {
  const valid = validateNewClient(options);
  const secret = generateClientSecret();
  const now = runtime.core.now();
  const client: ClientRecord = {
    id: generateClientId(),
    name: valid.name,
    secretHash: runtime.core.keys.hashToken(secret),
    redirectUris: valid.redirectUris,
    scopes: valid.scopes,
    createdAt: now,
    updatedAt: now,
  };
  await runtime.core.store.createClient(client);
  return { client, secret };
}

function describe(client: ClientRecord) {
  return {
    client_id: client.id,
    name: client.name,
    redirect_uris: client.redirectUris,
    scope: client.scopes.join(" "),
    created_at: new Date(client.createdAt).toISOString(),
  };
}

export async function runClientsCommand(
  runtime: Runtime,
  sub: string | undefined,
  positionals: string[],
  values: { name?: string; "redirect-uri"?: string[]; scope?: string; json?: boolean },
): Promise<number> {
  const json = values.json === true;
  const store = runtime.core.store;
  const needId = () => {
    const id = positionals[0];
    if (!id) throw new UsageError(`clients ${sub} needs a client id`);
    return id;
  };
  switch (sub) {
    case "create": {
      const { client, secret } = await createClient(runtime, {
        name: values.name,
        redirectUris: values["redirect-uri"] ?? [],
        scope: values.scope,
      });
      print(json, { ...describe(client), client_secret: secret });
      if (!json) process.stdout.write("\nThe client secret is shown only this once: store it now.\n");
      return 0;
    }
    case "list": {
      const clients = await store.listClients();
      if (json) process.stdout.write(`${JSON.stringify(clients.map(describe))}\n`);
      else for (const c of clients) process.stdout.write(`${c.id}  ${c.name}  ${c.scopes.join(" ")}\n`);
      return 0;
    }
    case "show": {
      const client = await store.getClient(needId());
      if (!client) return notFound(needId());
      print(json, describe(client));
      return 0;
    }
    case "delete": {
      if (!(await store.deleteClient(needId()))) return notFound(needId());
      process.stdout.write(`deleted ${needId()} and every token issued to it\n`);
      return 0;
    }
    case "update": {
      const id = needId();
      const changes = validateClientChanges({
        name: values.name,
        redirectUris: values["redirect-uri"],
        scope: values.scope,
      });
      if (!(await store.updateClient(id, changes, runtime.core.now()))) return notFound(id);
      const client = await store.getClient(id);
      if (!client) return notFound(id);
      print(json, describe(client));
      return 0;
    }
    case "rotate-secret": {
      const secret = generateClientSecret();
      const changed = await store.setClientSecretHash(
        needId(),
        runtime.core.keys.hashToken(secret),
        runtime.core.now(),
      );
      if (!changed) return notFound(needId());
      print(json, { client_id: needId(), client_secret: secret });
      if (!json) process.stdout.write("\nThe old secret no longer works. The new one is shown only this once.\n");
      return 0;
    }
    default:
      throw new UsageError(
        `unknown clients command: ${sub ?? "(none)"}; expected create, list, show, update, delete or rotate-secret`,
      );
  }
}

function notFound(id: string): number {
  process.stderr.write(`keyward: no client with id ${id}\n`);
  return 1;
}
