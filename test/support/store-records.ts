import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type {
  AuthorizationCodeRecord,
  ClientRecord,
  GrantRecord,
  SessionRecord,
  SigningKeyRecord,
  Store,
  TokenRecord,
  UserRecord,
} from "../../src/store/types.js";

/** Records for driving a Store directly; every field can be overridden. */
export const NOW = 1_800_000_000_000;
export const HOUR = 3600_000;

const id = (prefix: string) => `${prefix}_${randomBytes(8).toString("hex")}`;

export const clientRecord = (over: Partial<ClientRecord> = {}): ClientRecord => ({
  id: id("client"),
  name: "Test client",
  secretHash: id("secret"),
  redirectUris: ["https://client.example/callback", "https://client.example/other"],
  scopes: ["design:meta:read", "profile:read"],
  createdAt: NOW,
  updatedAt: NOW,
  ...over,
});

export const userRecord = (over: Partial<UserRecord> = {}): UserRecord => ({
  id: id("user"),
  email: `${id("u")}@example.com`,
  passwordHash: "scrypt$hash",
  displayName: "Ada",
  teamId: id("team"),
  createdAt: NOW,
  ...over,
});

export const grantRecord = (over: Partial<GrantRecord> = {}): GrantRecord => ({
  id: id("grant"),
  clientId: "client",
  userId: "user",
  scopes: ["profile:read"],
  createdAt: NOW,
  revokedAt: null,
  ...over,
});

export const codeRecord = (
  grant: GrantRecord,
  over: Partial<AuthorizationCodeRecord> = {},
): AuthorizationCodeRecord => ({
  hash: id("code"),
  grantId: grant.id,
  clientId: grant.clientId,
  userId: grant.userId,
  redirectUri: "https://client.example/callback",
  redirectUriExplicit: true,
  codeChallenge: "challenge",
  scopes: grant.scopes,
  createdAt: NOW,
  expiresAt: NOW + 600_000,
  consumedAt: null,
  ...over,
});

export const tokenRecord = (grant: GrantRecord, over: Partial<TokenRecord> = {}): TokenRecord => ({
  hash: id("token"),
  kind: "refresh",
  jti: id("jti"),
  grantId: grant.id,
  clientId: grant.clientId,
  userId: grant.userId,
  scopes: grant.scopes,
  createdAt: NOW,
  expiresAt: NOW + HOUR,
  consumedAt: null,
  ...over,
});

export const sessionRecord = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  hash: id("session"),
  userId: "user",
  createdAt: NOW,
  expiresAt: NOW + HOUR,
  ...over,
});

export const signingKeyRecord = (over: Partial<SigningKeyRecord> = {}): SigningKeyRecord => ({
  kid: id("kid"),
  alg: "ES256",
  purpose: "tokens",
  publicJwk: "{}",
  privateJwkEncrypted: "v1.x.y.z",
  createdAt: NOW,
  retiredAt: null,
  publishUntil: null,
  ...over,
});

/** Stores a session as sign-in does, at its user's password hash; the user is made first if there is none. */
export async function storeSession(store: Store, session: SessionRecord): Promise<void> {
  let user = await store.getUserById(session.userId);
  if (!user) {
    user = userRecord({ id: session.userId });
    await store.createUser(user);
  }
  assert.equal(await store.createSession(session, user.passwordHash), true);
}
