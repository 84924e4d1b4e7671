import { disconnect, listConnections } from "../core/connections.js";
import {
  type CheckedUserField,
  changePassword,
  checkEmail,
  checkPassword,
  createUser,
  MIN_PASSWORD_LENGTH,
  normalizeEmail,
  type UserFieldProblem,
} from "../core/users.js";
import type { Runtime } from "../runtime.js";
import { everyRecord } from "../store/every-record.js";
import { DuplicateError, type UserRecord } from "../store/types.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

interface UserOptions {
  email?: string;
  client?: string;
  password?: string;
  "display-name"?: string;
  json?: boolean;
}

function usageMessage(p: UserFieldProblem): string {
  if (p.field === "email")
    return p.problem === "missing" ? "--email is required" : `--email ${p.value} is not an email address`;
  if (p.problem === "missing") return "--password is required";
  return `--password must be at least ${MIN_PASSWORD_LENGTH} characters`;
}

function orUsageError(checked: CheckedUserField): string {
  if (!checked.ok) throw new UsageError(usageMessage(checked.problem));
  return checked.value;
}

const validEmail = (values: UserOptions) => orUsageError(checkEmail(values.email));

const validPassword = (values: UserOptions) => orUsageError(checkPassword(values.password));

const validClient = (values: UserOptions) => {
  if (!values.client) throw new UsageError("--client is required: the client_id of the integration to disconnect");
  return values.client;
};

/** Refuses what `users SUB` can be refused for without the database, before anything is opened or made. */
export function checkUsersArguments(sub: string | undefined, values: UserOptions): void {
  if (sub === "disconnect") validClient(values);
  if (sub !== undefined && sub !== "list") validEmail(values);
  if (sub === "create" || sub === "set-password") validPassword(values);
}

/** The user `--email` names, normalized as stored; `user` is undefined when there is none. */
async function userNamed(runtime: Runtime, values: UserOptions): Promise<{ email: string; user?: UserRecord }> {
  const email = normalizeEmail(validEmail(values));
  return { email, user: await runtime.core.store.getUserByEmail(email) };
}

export async function runUsersCommand(runtime: Runtime, sub: string | undefined, values: UserOptions): Promise<number> {
  switch (sub) {
    case "create":
      return create(runtime, values);
    case "set-password":
      return setPassword(runtime, values);
    case "delete":
      return remove(runtime, values);
    case "show":
      return show(runtime, values);
    case "list":
      return list(runtime, values.json === true);
    case "sign-out":
      return signOut(runtime, values);
    case "disconnect":
      return disconnectClient(runtime, values);
    default:
      throw new UsageError(
        `unknown users command: ${sub ?? "(none)"}; expected create, list, show, sign-out, disconnect, set-password or delete`,
      );
  }
}

async function create(runtime: Runtime, values: UserOptions): Promise<number> {
  const email = validEmail(values);
  const password = validPassword(values);
  try {
    const user = await createUser(runtime.core, { email, password, displayName: values["display-name"] });
    print(values.json === true, { user_id: user.id, email: user.email, display_name: user.displayName });
    return 0;
  } catch (error) {
    if (error instanceof DuplicateError) {
      process.stderr.write(`keyward: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** Every user, a page of the store at a time so that a large table is not read at once; one line (or JSON object) each. */
async function list(runtime: Runtime, json: boolean): Promise<number> {
  let first = true;
  if (json) process.stdout.write("[");
  for await (const user of everyRecord((after, limit) => runtime.core.store.listUsers(after, limit))) {
    const described = { user_id: user.id, email: user.email, display_name: user.displayName };
    if (json) process.stdout.write(`${first ? "" : ","}${JSON.stringify(described)}`);
    else process.stdout.write(`${user.id}  ${user.email}  ${user.displayName}\n`);
    first = false;
  }
  if (json) process.stdout.write("]\n");
  return 0;
}

/** Ends the user's sign-in sessions everywhere; what they granted integrations stays. */
async function signOut(runtime: Runtime, values: UserOptions): Promise<number> {
  const { email, user } = await userNamed(runtime, values);
  if (!user) return noUser(email);
  const ended = await runtime.core.store.deleteUserSessions(user.id);
  print(values.json === true, { user_id: user.id, email, sessions_ended: ended });
  return 0;
}

/**
 * Withdraws the user's consent to one integration and revokes every lineage between them, as the
 * account page's Disconnect does: its tokens stop working, and it must ask the user again.
 */
async function disconnectClient(runtime: Runtime, values: UserOptions): Promise<number> {
  const clientId = validClient(values);
  const { email, user } = await userNamed(runtime, values);
  if (!user) return noUser(email);
  if (!(await disconnect(runtime.core, user.id, clientId))) {
    process.stderr.write(`keyward: ${email} has no connection with client ${clientId}\n`);
    return 1;
  }
  print(values.json === true, { user_id: user.id, email, client_id: clientId, disconnected: true });
  return 0;
}

/** The user and the integrations they let in, for whoever answers their questions. */
async function show(runtime: Runtime, values: UserOptions): Promise<number> {
  const { email, user } = await userNamed(runtime, values);
  if (!user) return noUser(email);
  const connections = await listConnections(runtime.core, user.id);
  // As JSON, each connection in the admin API's fields; as text, one line.
  const listed =
    values.json === true
      ? connections.map((c) => ({
          client_id: c.clientId,
          client_name: c.clientName,
          scope: c.scopes.join(" "),
          connected_at: new Date(c.since).toISOString(),
        }))
      : connections
          .map((c) => `${c.clientId} (${c.clientName}): ${c.scopes.join(" ") || "(nothing at present)"}`)
          .join("; ") || "(none)";
  print(values.json === true, {
    user_id: user.id,
    email: user.email,
    display_name: user.displayName,
    created_at: new Date(user.createdAt).toISOString(),
    connections: listed,
  });
  return 0;
}

async function setPassword(runtime: Runtime, values: UserOptions): Promise<number> {
  const { email, user } = await userNamed(runtime, values);
  const password = validPassword(values);
  if (!user || !(await changePassword(runtime.core, user.id, password))) return noUser(email);
  process.stdout.write(`changed the password of ${email} and ended their sign-in sessions\n`);
  return 0;
}

async function remove(runtime: Runtime, values: UserOptions): Promise<number> {
  const { email, user } = await userNamed(runtime, values);
  if (!user || !(await runtime.core.store.deleteUser(user.id))) return noUser(email);
  process.stdout.write(`deleted ${email} with their sessions, consents and every token issued on their behalf\n`);
  return 0;
}

function noUser(email: string): number {
  process.stderr.write(`keyward: no user with email ${email}\n`);
  return 1;
}
