/** Rows as the database returns them, turned into the records the Store speaks. */
import type { Selectable } from "kysely";
import type { Database, KeyTable } from "./schema.js";
import type { TokenFields } from "./token-rows.js";
import type {
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  KeyPurpose,
  SessionRecord,
  SigningKeyRecord,
  TokenWithGrant,
  UserRecord,
} from "./types.js";

export const splitScopes = (value: string): string[] => (value === "" ? [] : value.split(" "));

/** Scopes as a column holds them, which `splitScopes` reads back. */
export const joinScopes = (scopes: readonly string[]): string => scopes.join(" ");

export function toClient(row: Selectable<Database["clients"]>): ClientRecord {
  const client: ClientRecord = {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    redirectUris: JSON.parse(row.redirect_uris) as string[],
    scopes: splitScopes(row.scopes),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  const { previous_secret_hash: hash, previous_secret_expires_at: expiresAt } = row;
  return hash === null || expiresAt === null ? client : { ...client, previousSecret: { hash, expiresAt } };
}

export function toUser(row: Selectable<Database["users"]>): UserRecord {
  return {
    id: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    displayName: row.display_name,
    teamId: row.team_id,
    createdAt: row.created_at,
  };
}

export function toSession(row: Selectable<Database["sessions"]>): SessionRecord {
  return { hash: row.hash, userId: row.user_id, createdAt: row.created_at, expiresAt: row.expires_at };
}

/** A consent row of `userId`, who the caller read it for. */
export function toConsent(row: Selectable<Database["consents"]>, userId: string): ConsentRecord {
  return { clientId: row.client_id, userId, scopes: splitScopes(row.scopes), updatedAt: row.updated_at };
}

export function toCode(
  hash: string,
  row: Omit<Selectable<Database["authorization_codes"]>, "hash">,
): AuthorizationCodeRecord {
  return {
    hash,
    grantId: row.grant_id,
    clientId: row.client_id,
    userId: row.user_id,
    redirectUri: row.redirect_uri,
    redirectUriExplicit: row.redirect_uri_explicit === 1,
    codeChallenge: row.code_challenge,
    scopes: splitScopes(row.scopes),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    consumedAt: row.consumed_at,
  };
}

/** A token row (its key given apart) and, from a join, whether its grant is revoked; one object shape either way. */
export function toToken(hash: string, row: TokenFields, grantRevokedAt: number | null): TokenWithGrant {
  return {
    hash,
    kind: row.kind === "refresh" ? "refresh" : "access",
    jti: row.jti,
    grantId: row.grant_id,
    clientId: row.client_id,
    userId: row.user_id,
    scopes: splitScopes(row.scopes),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    consumedAt: row.consumed_at,
    grantRevokedAt,
  };
}

/** Where the keys of each purpose are kept. */
export const KEY_TABLES = { tokens: "signing_keys", webhooks: "webhook_keys" } as const;

export function toSigningKey(row: Selectable<KeyTable>, purpose: KeyPurpose): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    purpose,
    publicJwk: row.public_jwk,
    privateJwkEncrypted: row.private_jwk_encrypted,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
    publishUntil: row.publish_until,
  };
}
