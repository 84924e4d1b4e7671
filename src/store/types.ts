/**
 * The storage port. The protocol core depends only on this interface; SQLite and PostgreSQL
 * implement it with the same Kysely queries. Times are milliseconds since the epoch.
 * Every secret value (code, token, client secret, session id) arrives here already keyed-hashed.
 */
/** Shared between requests once read (see ViewMemo), hence read-only. */
export interface ClientRecord {
  readonly id: string;
  readonly name: string;
  readonly secretHash: string;
  /** Present while a secret replaced by a rotation still works beside the new one. */
  readonly previousSecret?: PreviousClientSecret;
  readonly redirectUris: readonly string[];
  readonly scopes: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface PreviousClientSecret {
  readonly hash: string;
  /** After this the previous secret no longer authenticates. */
  readonly expiresAt: number;
}

/** What `clients update` may change; the id, the secret and the creation time stay. */
export type ClientChanges = Partial<Pick<ClientRecord, "name" | "redirectUris" | "scopes">>;

export interface UserRecord {
  id: string;
  email: string;
  passwordHash: string;
  displayName: string;
  teamId: string;
  createdAt: number;
}

export interface ConsentRecord {
  clientId: string;
  userId: string;
  scopes: string[];
  updatedAt: number;
}

/** A lineage: everything issued from one authorization. Revoking it revokes all its tokens. */
export interface GrantRecord {
  id: string;
  clientId: string;
  userId: string;
  scopes: string[];
  createdAt: number;
  revokedAt: number | null;
}

export interface AuthorizationCodeRecord {
  hash: string;
  grantId: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  /** Whether the authorization request named the redirect URI (RFC 6749 §4.1.3). */
  redirectUriExplicit: boolean;
  codeChallenge: string | null;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export type TokenKind = "access" | "refresh";

export interface TokenRecord {
  hash: string;
  kind: TokenKind;
  /** Public identifier (the JWT `jti` where there is one). */
  jti: string;
  grantId: string;
  clientId: string;
  userId: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  /**
   * When it was spent, null until then. A refresh token: when it was exchanged (rotated). Access
   * tokens too: when the rotation that stored a pair is answered again (replaceRotation), the
   * access token of that pair is spent with its refresh token, and is no longer active.
   */
  consumedAt: number | null;
}

/** A token together with the state of its lineage. */
export interface TokenWithGrant extends TokenRecord {
  grantRevokedAt: number | null;
}

/** What a key signs: access and Cal.com tokens, or webhook notifications. */
export type KeyPurpose = "tokens" | "webhooks";

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  purpose: KeyPurpose;
  publicJwk: string;
  privateJwkEncrypted: string;
  createdAt: number;
  /** When it stopped being the key new tokens are signed with. */
  retiredAt: number | null;
  /** Until when the JWKS still publishes it. */
  publishUntil: number | null;
}

export interface SessionRecord {
  hash: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * What spending a code or token did. Spent by this call, it is not read back: the caller read it
 * before spending it. Spent before (`reused`), the outcome carries it as it is now.
 */
export type RedeemOutcome =
  | { status: "redeemed" }
  | { status: "reused"; code: AuthorizationCodeRecord }
  | { status: "expired" | "revoked" | "unknown" };

export type ConsumeOutcome =
  | { status: "consumed" }
  | { status: "reused"; token: TokenRecord }
  | { status: "expired" | "revoked" | "unknown" };

/** What one prune removed, per kind. */
export interface PruneCounts {
  authorizationCodes: number;
  tokens: number;
  sessions: number;
  grants: number;
  signingKeys: number;
}

export class DuplicateError extends Error {}

export interface Store {
  /**
   * Runs `work` in one transaction; everything it does commits or rolls back together. A
   * transaction that loses a conflict with a concurrent one (deadlock, serialization failure,
   * SQLite busy) is rolled back and `work` runs again, so it must not act outside the store.
   */
  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T>;

  createClient(client: ClientRecord): Promise<void>;
  getClient(id: string): Promise<ClientRecord | undefined>;
  /** Up to `limit` clients in id order, after the id `after` when given (see listUsers). */
  listClients(after: string | undefined, limit: number): Promise<ClientRecord[]>;
  /** Deletes the client and everything issued to it. */
  deleteClient(id: string): Promise<boolean>;
  /**
   * Replaces the client's secret. With `previousValidUntil`, the secret replaced keeps working
   * until then (the one kept before it, if any, stops); without it, it stops at once.
   */
  setClientSecretHash(id: string, secretHash: string, now: number, previousValidUntil?: number): Promise<boolean>;
  /** Changes what `changes` names; false when there is no such client. */
  updateClient(id: string, changes: ClientChanges, now: number): Promise<boolean>;

  /** Throws DuplicateError when the email is taken. */
  createUser(user: UserRecord): Promise<void>;
  getUserByEmail(email: string): Promise<UserRecord | undefined>;
  getUserById(id: string): Promise<UserRecord | undefined>;
  /** Up to `limit` users in id order, from the first id after `after` (from the start without it): pages of all users. */
  listUsers(after: string | undefined, limit: number): Promise<UserRecord[]>;
  /** Replaces the password hash and ends every sign-in session of the user; false when there is no such user. */
  setUserPassword(id: string, passwordHash: string): Promise<boolean>;
  /**
   * Deletes the user and everything held on their behalf: sessions, consents, codes, lineages and
   * their tokens. False when there is no such user.
   */
  deleteUser(id: string): Promise<boolean>;
  /**
   * Inside a transaction: holds the user's row until the transaction ends, so that deleting the
   * user waits for this transaction and then removes what it wrote. False when the user does not
   * exist, or was deleted while this waited; the caller then writes nothing on their behalf.
   *
   * Lock order: a transaction that takes more than one of these rows takes them user, then client,
   * then existing lineages, then the consent (deleteUser, deleteClient, a disconnect, revokeToken
   * and issuing a code all keep to it; a new lineage is an insert and waits on no one). Another
   * order can deadlock on PostgreSQL.
   */
  holdUser(id: string): Promise<boolean>;
  /**
   * Inside a transaction: holds the client's row, shared, until the transaction ends, so that
   * deleting the client waits for this transaction and then removes what it wrote, while other
   * transactions holding it go on. False when the client does not exist (any more).
   */
  holdClient(id: string): Promise<boolean>;

  getConsent(clientId: string, userId: string): Promise<ConsentRecord | undefined>;
  /**
   * Inside a transaction, the consent row stays held until the transaction ends: another
   * transaction saving the same user's consent to the same client waits for it to commit.
   */
  saveConsent(consent: ConsentRecord): Promise<void>;
  deleteConsent(clientId: string, userId: string): Promise<void>;
  /** The user's consents to clients that exist, most recently given first. */
  listConsents(userId: string): Promise<ConsentRecord[]>;
  /**
   * Inside a transaction: makes sure the user's consent row to the client exists (with no scopes
   * when new) and holds it until the transaction ends, so that a concurrent holder waits and then
   * reads what this transaction saved.
   */
  holdConsent(clientId: string, userId: string, now: number): Promise<void>;

  createGrant(grant: GrantRecord): Promise<void>;
  /** Revokes a lineage; returns false if it was already revoked or does not exist. */
  revokeGrant(grantId: string, now: number): Promise<boolean>;
  /** Revokes every live lineage of the user with the client; returns how many were live. */
  revokeGrantsOf(clientId: string, userId: string, now: number): Promise<number>;
  /**
   * Revokes what the client's token with this hash stands for, together or not at all. An access
   * token: its lineage. A refresh token: the user's consent to the client, so every live lineage of
   * the user with the client, and the consent row itself, including a lineage an authorization
   * under that consent commits meanwhile. Returns false, having changed nothing, when the client
   * has no token with this hash.
   */
  revokeToken(hash: string, clientId: string, now: number): Promise<boolean>;

  createAuthorizationCode(code: AuthorizationCodeRecord): Promise<void>;
  /** Whether the user holds a code for the client, unspent and unexpired, that was issued without a PKCE challenge. */
  hasOutstandingCodeWithoutPkce(clientId: string, userId: string, now: number): Promise<boolean>;
  findAuthorizationCode(hash: string): Promise<AuthorizationCodeRecord | undefined>;
  /**
   * Atomically marks the client's code used; exactly one concurrent caller sees "redeemed".
   * A code issued to another client is "unknown" and stays untouched.
   */
  redeemAuthorizationCode(hash: string, clientId: string, now: number): Promise<RedeemOutcome>;
  /** Redeems the code as `redeemAuthorizationCode` does and, only if it was redeemed, stores `tokens`: together or not at all. */
  exchangeAuthorizationCode(hash: string, clientId: string, now: number, tokens: TokenRecord[]): Promise<RedeemOutcome>;

  saveTokens(tokens: TokenRecord[]): Promise<void>;
  findToken(hash: string): Promise<TokenWithGrant | undefined>;
  /**
   * Atomically consumes the client's live refresh token; exactly one concurrent caller sees
   * "consumed". A token issued to another client is "unknown" and stays untouched.
   */
  consumeRefreshToken(hash: string, clientId: string, now: number): Promise<ConsumeOutcome>;
  /** Consumes the token as `consumeRefreshToken` does and, only if it was consumed, stores `tokens`: together or not at all. */
  rotateRefreshToken(hash: string, clientId: string, now: number, tokens: TokenRecord[]): Promise<ConsumeOutcome>;
  /**
   * Answers a rotation again, for a client that lost the first answer: atomically spends the refresh
   * token that the rotation of `hash` stored (and the access token minted with it), names the
   * refresh token among `tokens` as the successor instead, and stores `tokens`. "consumed" only
   * while that successor is unused and its lineage live; otherwise nothing changes and the outcome
   * says why, "reused" when the presented token was spent.
   */
  replaceRotation(hash: string, clientId: string, now: number, tokens: TokenRecord[]): Promise<ConsumeOutcome>;

  /**
   * Throws DuplicateError when the key is current (retiredAt null) and another current key of
   * its purpose exists.
   */
  addSigningKey(key: SigningKeyRecord): Promise<void>;
  /** Keys of `purpose` (tokens unless given) still published (publishUntil null or in the future), newest first. */
  listSigningKeys(now: number, purpose?: KeyPurpose): Promise<SigningKeyRecord[]>;

  /** The database's secret check (see `holdsDatabaseSecret`), if one was recorded. */
  getSecretCheck(): Promise<string | undefined>;
  /** Records `value` as the secret check unless one is recorded already; returns the recorded one. */
  claimSecretCheck(value: string): Promise<string>;
  /** Retires the current key of `purpose`, keeping it published until `publishUntil`. */
  retireSigningKeys(now: number, publishUntil: number, purpose: KeyPurpose): Promise<void>;

  /**
   * Starts the session only while its user exists with `passwordHash`, the hash the password was
   * checked against: a password change or deletion of the user that commits first leaves no
   * session; one that commits later ends it. False when no session was started.
   */
  createSession(session: SessionRecord, passwordHash: string): Promise<boolean>;
  findSession(hash: string, now: number): Promise<SessionRecord | undefined>;
  deleteSession(hash: string): Promise<void>;
  /** Ends every sign-in session of the user; how many there were. */
  deleteUserSessions(userId: string): Promise<number>;

  /**
   * Deletes expired codes, tokens and sessions, lineages with nothing left in them, and retired
   * signing and webhook keys no longer published, in batches of `batchSize` rows so that no
   * statement holds locks for long.
   */
  pruneExpired(now: number, batchSize: number): Promise<PruneCounts>;

  /**
   * Resolves once every write this process has made is committed and on stable storage. The HTTP
   * layer awaits it before any response goes out, so nothing is acknowledged that a crash could
   * undo. A write is visible to this process as soon as its call resolves; on SQLite, where
   * transactions are committed in batches, other processes see it once `flush` has resolved.
   */
  flush(): Promise<void>;

  /**
   * Reads from the database once, for readiness checks: resolves if it answers, and rejects as
   * any read would (a connection error while PostgreSQL cannot be reached) if it does not.
   */
  ping(): Promise<void>;

  close(): Promise<void>;
}
