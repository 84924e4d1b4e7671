import type { ClientChanges, ClientRecord } from "../store/types.js";
import { generateClientId, generateClientSecret } from "./clients.js";
import type { CoreContext } from "./context.js";
import { isRegistrableRedirectUri } from "./redirect-uri.js";
import { isKnownScope, parseScope } from "./scopes.js";

export const MAX_REDIRECT_URIS = 10;

/** What is wrong with an integration's registration; the CLI and the admin API each word it their own way. */
export type ClientFieldProblem =
  | { field: "name" | "scope"; problem: "missing" }
  | { field: "redirect_uris"; problem: "missing" }
  | { field: "redirect_uris"; problem: "too_many" }
  | { field: "redirect_uris"; problem: "not_allowed"; value: string }
  | { field: "scope"; problem: "unknown"; value: string };

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: ClientFieldProblem };

/** An integration's registration as given, before any check. */
export interface ClientFields {
  name?: string;
  redirectUris?: string[];
  scope?: string;
}

export type ValidClient = Required<ClientChanges>;

const refused = (problem: ClientFieldProblem): { ok: false; problem: ClientFieldProblem } => ({ ok: false, problem });

function checkName(name: string | undefined): Checked<string> {
  const trimmed = name?.trim();
  return trimmed ? { ok: true, value: trimmed } : refused({ field: "name", problem: "missing" });
}

function checkRedirectUris(uris: string[] | undefined): Checked<string[]> {
  if (!uris || uris.length === 0) return refused({ field: "redirect_uris", problem: "missing" });
  if (uris.length > MAX_REDIRECT_URIS) return refused({ field: "redirect_uris", problem: "too_many" });
  const bad = uris.find((uri) => !isRegistrableRedirectUri(uri));
  if (bad !== undefined) return refused({ field: "redirect_uris", problem: "not_allowed", value: bad });
  return { ok: true, value: [...new Set(uris)] };
}

function checkScopes(scope: string | undefined): Checked<string[]> {
  const scopes = parseScope(scope);
  if (scopes.length === 0) return refused({ field: "scope", problem: "missing" });
  const unknown = scopes.filter((s) => !isKnownScope(s));
  if (unknown.length > 0) return refused({ field: "scope", problem: "unknown", value: unknown.join(" ") });
  return { ok: true, value: scopes };
}

/** Checks every field of a new integration, in the order the CLI lists them. */
export function checkNewClient(fields: ClientFields): Checked<ValidClient> {
  const name = checkName(fields.name);
  if (!name.ok) return name;
  const redirectUris = checkRedirectUris(fields.redirectUris);
  if (!redirectUris.ok) return redirectUris;
  const scopes = checkScopes(fields.scope);
  if (!scopes.ok) return scopes;
  return { ok: true, value: { name: name.value, redirectUris: redirectUris.value, scopes: scopes.value } };
}

/** Checks the fields given for an update as a new integration's are checked; absent ones stay as they are. */
export function checkClientChanges(fields: ClientFields): Checked<ClientChanges> {
  const name = fields.name === undefined ? undefined : checkName(fields.name);
  if (name && !name.ok) return name;
  const redirectUris = fields.redirectUris === undefined ? undefined : checkRedirectUris(fields.redirectUris);
  if (redirectUris && !redirectUris.ok) return redirectUris;
  const scopes = fields.scope === undefined ? undefined : checkScopes(fields.scope);
  if (scopes && !scopes.ok) return scopes;
  return {
    ok: true,
    value: {
      ...(name && { name: name.value }),
      ...(redirectUris && { redirectUris: redirectUris.value }),
      ...(scopes && { scopes: scopes.value }),
    },
  };
}

/** Registers an integration. Its secret is returned this once; only its keyed hash is stored. */
export async function registerClient(
  ctx: CoreContext,
  valid: ValidClient,
): Promise<{ client: ClientRecord; secret: string }> {
  const secret = generateClientSecret();
  const now = ctx.now();
  const client: ClientRecord = {
    id: generateClientId(),
    name: valid.name,
    secretHash: ctx.keys.hashToken(secret),
    redirectUris: valid.redirectUris,
    scopes: valid.scopes,
    createdAt: now,
    updatedAt: now,
  };
  await ctx.store.createClient(client);
  return { client, secret };
}

/** The longest a replaced secret may keep working beside its successor: 30 days. */
export const MAX_PREVIOUS_SECRET_SECONDS = 30 * 86400;

export interface RotatedSecret {
  secret: string;
  /** Until when the replaced secret still works; absent when it stopped at once. */
  previousExpiresAt?: number;
}

/**
 * Replaces an integration's secret. The replaced one stops working at once, or, given
 * `keepPreviousSeconds` (1 to MAX_PREVIOUS_SECRET_SECONDS, checked by the caller), that much later,
 * so that the integration can deploy the new one without a gap. Undefined when there is no such client.
 */
export async function rotateClientSecret(
  ctx: CoreContext,
  id: string,
  keepPreviousSeconds?: number,
): Promise<RotatedSecret | undefined> {
  const secret = generateClientSecret();
  const now = ctx.now();
  const previousExpiresAt = keepPreviousSeconds === undefined ? undefined : now + keepPreviousSeconds * 1000;
  const rotated = await ctx.store.setClientSecretHash(id, ctx.keys.hashToken(secret), now, previousExpiresAt);
  if (!rotated) return undefined;
  return previousExpiresAt === undefined ? { secret } : { secret, previousExpiresAt };
}

/** Whether `value` may be how long a replaced secret keeps working, in seconds. */
export function isPreviousSecretLifetime(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_PREVIOUS_SECRET_SECONDS;
}

/** Applies checked changes to an integration; the integration as it now stands, or undefined if there is none. */
export async function changeClient(
  ctx: CoreContext,
  id: string,
  changes: ClientChanges,
): Promise<ClientRecord | undefined> {
  if (!(await ctx.store.updateClient(id, changes, ctx.now()))) return undefined;
  return ctx.store.getClient(id);
}
