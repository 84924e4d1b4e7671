/**
 * The Store over any Kysely database: the same queries serve SQLite and PostgreSQL. Each method
 * hands on to the function of the same name in the file of its area under kysely/: clients.ts,
 * users.ts, sessions.ts, consents.ts, lineages.ts (grants and revocation), codes.ts, tokens.ts
 * (and rotation), keys.ts (signing keys and the secret check); context.ts holds the plumbing.
 */
import type { Kysely, Transaction } from "kysely";
import {
  createClient,
  deleteClient,
  getClient,
  holdClient,
  listClients,
  setClientSecretHash,
  updateClient,
} from "./kysely/clients.js";
import {
  createAuthorizationCode,
  exchangeAuthorizationCode,
  findAuthorizationCode,
  hasOutstandingCodeWithoutPkce,
  redeemAuthorizationCode,
} from "./kysely/codes.js";
import { deleteConsent, getConsent, holdConsent, listConsents, saveConsent } from "./kysely/consents.js";
import { type ContextOptions, KyselyContext } from "./kysely/context.js";
import { addSigningKey, claimSecretCheck, getSecretCheck, listSigningKeys, retireSigningKeys } from "./kysely/keys.js";
import { createGrant, revokeGrant, revokeGrantsOf, revokeToken } from "./kysely/lineages.js";
import { createSession, deleteSession, deleteUserSessions, findSession } from "./kysely/sessions.js";
import { consumeRefreshToken, findToken, replaceRotation, rotateRefreshToken, saveTokens } from "./kysely/tokens.js";
import {
  createUser,
  deleteUser,
  getUserByEmail,
  getUserById,
  holdUser,
  listUsers,
  setUserPassword,
} from "./kysely/users.js";
import { pruneExpired } from "./prune.js";
import type { Database } from "./schema.js";
import type {
  AuthorizationCodeRecord,
  ClientChanges,
  ClientRecord,
  ConsentRecord,
  ConsumeOutcome,
  GrantRecord,
  KeyPurpose,
  PruneCounts,
  RedeemOutcome,
  SessionRecord,
  SigningKeyRecord,
  Store,
  TokenRecord,
  TokenWithGrant,
  UserRecord,
} from "./types.js";

export type { TransactionRunner } from "./kysely/context.js";

export interface KyselyStoreOptions extends ContextOptions {
  onClose?: () => Promise<void>;
  onFlush?: () => Promise<void>;
  /** SQLite only: throws when the database's path no longer names the file opened; `ping` asks it. */
  checkFile?: () => void;
}

/** The Store over any Kysely database: the same queries serve SQLite and PostgreSQL. */
export class KyselyStore extends KyselyContext implements Store {
  private readonly onClose: () => Promise<void>;
  private readonly onFlush: () => Promise<void>;
  private readonly checkFile: () => void;

  constructor(db: Kysely<Database> | Transaction<Database>, options: KyselyStoreOptions = {}) {
    super(db, options);
    this.onClose = options.onClose ?? (async () => {});
    this.onFlush = options.onFlush ?? (async () => {});
    this.checkFile = options.checkFile ?? (() => {});
  }

  protected newStoreIn(trx: Transaction<Database>): this {
    // The one place a context becomes a store: each of this store's transactions runs on a KyselyStore.
    return new KyselyStore(trx, {
      queries: this.queries,
      clients: this.clients,
      writableCtes: this.writableCtes,
      rowLocks: this.rowLocks,
      statementsHoldEventLoop: this.statementsHoldEventLoop,
    }) as this;
  }

  createClient(client: ClientRecord): Promise<void> {
    return createClient(this, client);
  }

  getClient(id: string): Promise<ClientRecord | undefined> {
    return getClient(this, id);
  }

  listClients(after: string | undefined, limit: number): Promise<ClientRecord[]> {
    return listClients(this, after, limit);
  }

  deleteClient(id: string): Promise<boolean> {
    return deleteClient(this, id);
  }

  setClientSecretHash(id: string, secretHash: string, now: number, previousValidUntil?: number): Promise<boolean> {
    return setClientSecretHash(this, id, secretHash, now, previousValidUntil);
  }

  updateClient(id: string, changes: ClientChanges, now: number): Promise<boolean> {
    return updateClient(this, id, changes, now);
  }

  holdClient(id: string): Promise<boolean> {
    return holdClient(this, id);
  }

  createUser(user: UserRecord): Promise<void> {
    return createUser(this, user);
  }

  getUserByEmail(email: string): Promise<UserRecord | undefined> {
    return getUserByEmail(this, email);
  }

  getUserById(id: string): Promise<UserRecord | undefined> {
    return getUserById(this, id);
  }

  listUsers(after: string | undefined, limit: number): Promise<UserRecord[]> {
    return listUsers(this, after, limit);
  }

  setUserPassword(id: string, passwordHash: string): Promise<boolean> {
    return setUserPassword(this, id, passwordHash);
  }

  deleteUser(id: string): Promise<boolean> {
    return deleteUser(this, id);
  }

  holdUser(id: string): Promise<boolean> {
    return holdUser(this, id);
  }

  createSession(session: SessionRecord, passwordHash: string): Promise<boolean> {
    return createSession(this, session, passwordHash);
  }

  findSession(hash: string, now: number): Promise<SessionRecord | undefined> {
    return findSession(this, hash, now);
  }

  deleteSession(hash: string): Promise<void> {
    return deleteSession(this, hash);
  }

  deleteUserSessions(userId: string): Promise<number> {
    return deleteUserSessions(this, userId);
  }

  getConsent(clientId: string, userId: string): Promise<ConsentRecord | undefined> {
    return getConsent(this, clientId, userId);
  }

  saveConsent(consent: ConsentRecord): Promise<void> {
    return saveConsent(this, consent);
  }

  holdConsent(clientId: string, userId: string, now: number): Promise<void> {
    return holdConsent(this, clientId, userId, now);
  }

  listConsents(userId: string): Promise<ConsentRecord[]> {
    return listConsents(this, userId);
  }

  deleteConsent(clientId: string, userId: string): Promise<void> {
    return deleteConsent(this, clientId, userId);
  }

  createGrant(grant: GrantRecord): Promise<void> {
    return createGrant(this, grant);
  }

  revokeGrant(grantId: string, now: number): Promise<boolean> {
    return revokeGrant(this, grantId, now);
  }

  revokeGrantsOf(clientId: string, userId: string, now: number): Promise<number> {
    return revokeGrantsOf(this, clientId, userId, now);
  }

  revokeToken(hash: string, clientId: string, now: number): Promise<boolean> {
    return revokeToken(this, hash, clientId, now);
  }

  createAuthorizationCode(code: AuthorizationCodeRecord): Promise<void> {
    return createAuthorizationCode(this, code);
  }

  hasOutstandingCodeWithoutPkce(clientId: string, userId: string, now: number): Promise<boolean> {
    return hasOutstandingCodeWithoutPkce(this, clientId, userId, now);
  }

  findAuthorizationCode(hash: string): Promise<AuthorizationCodeRecord | undefined> {
    return findAuthorizationCode(this, hash);
  }

  redeemAuthorizationCode(hash: string, clientId: string, now: number): Promise<RedeemOutcome> {
    return redeemAuthorizationCode(this, hash, clientId, now);
  }

  exchangeAuthorizationCode(
    hash: string,
    clientId: string,
    now: number,
    tokens: TokenRecord[],
  ): Promise<RedeemOutcome> {
    return exchangeAuthorizationCode(this, hash, clientId, now, tokens);
  }

  saveTokens(tokens: TokenRecord[]): Promise<void> {
    return saveTokens(this, tokens);
  }

  findToken(hash: string): Promise<TokenWithGrant | undefined> {
    return findToken(this, hash);
  }

  consumeRefreshToken(hash: string, clientId: string, now: number): Promise<ConsumeOutcome> {
    return consumeRefreshToken(this, hash, clientId, now);
  }

  rotateRefreshToken(hash: string, clientId: string, now: number, tokens: TokenRecord[]): Promise<ConsumeOutcome> {
    return rotateRefreshToken(this, hash, clientId, now, tokens);
  }

  replaceRotation(hash: string, clientId: string, now: number, tokens: TokenRecord[]): Promise<ConsumeOutcome> {
    return replaceRotation(this, hash, clientId, now, tokens);
  }

  getSecretCheck(): Promise<string | undefined> {
    return getSecretCheck(this);
  }

  claimSecretCheck(value: string): Promise<string> {
    return claimSecretCheck(this, value);
  }

  addSigningKey(key: SigningKeyRecord): Promise<void> {
    return addSigningKey(this, key);
  }

  listSigningKeys(now: number, purpose?: KeyPurpose): Promise<SigningKeyRecord[]> {
    return listSigningKeys(this, now, purpose);
  }

  retireSigningKeys(now: number, publishUntil: number, purpose: KeyPurpose): Promise<void> {
    return retireSigningKeys(this, now, publishUntil, purpose);
  }

  pruneExpired(now: number, batchSize: number): Promise<PruneCounts> {
    return pruneExpired(this.db, now, batchSize, this.statementsHoldEventLoop);
  }

  async ping(): Promise<void> {
    // A file replaced under the server is not ready either: its writes would part ways.
    this.checkFile();
    // A table of the schema, not just `select 1`: a database that lost it is not ready either.
    await this.db.selectFrom("signing_keys").select("kid").limit(1).execute();
  }

  flush(): Promise<void> {
    return this.onFlush();
  }

  async close(): Promise<void> {
    await this.onClose();
  }
}
