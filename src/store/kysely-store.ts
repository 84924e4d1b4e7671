import type {
  Compilable,
  CompiledQuery,
  Kysely,
  QueryCreator,
  Transaction,
  UpdateQueryBuilder,
  UpdateResult,
} from "kysely";
import { isUnavailable, isUniqueViolation, retryOnConflict } from "./errors.js";
import { pruneExpired } from "./prune.js";
import {
  consentQuery,
  consumeRefreshQuery,
  deleteConsentQuery,
  inLiveLineage,
  leadingRow,
  ofTokenOfKind,
  ROW_VERSION,
  redeemCodeQuery,
  revokeGrantQuery,
  revokeGrantsOfQuery,
  SECRET_CHECK_ID,
  spentOne,
  storable,
  successorOf,
  tokenToRevokeQuery,
} from "./queries.js";
import { QueryCache } from "./query-cache.js";
import {
  joinScopes,
  KEY_TABLES,
  toClient,
  toCode,
  toConsent,
  toSession,
  toSigningKey,
  toToken,
  toUser,
} from "./records.js";
import type { Database } from "./schema.js";
import type { WriteAlone } from "./sqlite.js";
import { TOKEN_COLUMNS, TOKEN_FIELDS, tokenRows, tokenRowsIfSpent, tokenValues } from "./token-rows.js";
import {
  type AuthorizationCodeRecord,
  type ClientChanges,
  type ClientRecord,
  type ConsentRecord,
  type ConsumeOutcome,
  DuplicateError,
  type GrantRecord,
  type KeyPurpose,
  type PruneCounts,
  type RedeemOutcome,
  type SessionRecord,
  type SigningKeyRecord,
  type Store,
  type TokenRecord,
  type TokenWithGrant,
  type UserRecord,
} from "./types.js";
import { ViewMemo } from "./view-memo.js";

/** Runs `work` as one transaction on `tx`, committing when it resolves and rolling back when it throws. */
export type TransactionRunner = <T>(work: (tx: Transaction<Database>) => Promise<T>) => Promise<T>;

export interface KyselyStoreOptions {
  onClose?: () => Promise<void>;
  onFlush?: () => Promise<void>;
  queries?: QueryCache;
  /** Clients as read in the connection's current view; authentication reads one per request. */
  clients?: ViewMemo<ClientRecord | undefined>;
  /** Runs a transaction where the engine has a quicker way than Kysely's (SQLite). */
  transactions?: TransactionRunner;
  /**
   * Called once a change to a client has committed, where other processes' memos of clients do not
   * follow the table by themselves (PostgreSQL). Only the outermost store calls it: inside a
   * transaction, the change has not committed yet.
   */
  announceClientChange?: () => Promise<void>;
  /**
   * The engine runs writes inside `with` (PostgreSQL's data-modifying CTEs), so writes that belong
   * together can go as one statement: atomic without a transaction, in one round trip instead of
   * four (begin, each write, commit). SQLite cannot; there they run as one transaction: a group on
   * the write thread for revocations, the serving connection's batch for the rest.
   */
  writableCtes?: boolean;
  /** SQLite only: runs idempotent write groups on the write thread (see WriteAlone). */
  writeAlone?: WriteAlone;
  /** SQLite only: throws when the database's path no longer names the file opened; `ping` asks it. */
  checkFile?: () => void;
  /**
   * The engine locks rows (PostgreSQL's FOR UPDATE, FOR KEY SHARE); without, a write transaction
   * holds the whole database (SQLite), so the holds that take row locks have nothing to do.
   */
  rowLocks?: boolean;
}

/** The Store over any Kysely database: the same queries serve SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  private readonly onClose: () => Promise<void>;
  private readonly onFlush: () => Promise<void>;
  private readonly queries: QueryCache;
  private readonly clients: ViewMemo<ClientRecord | undefined>;
  private readonly transactions: TransactionRunner | undefined;
  private readonly announceClientChange: () => Promise<void>;
  private readonly writableCtes: boolean;
  private readonly writeAlone: WriteAlone | undefined;
  private readonly checkFile: () => void;
  private readonly rowLocks: boolean;
  private lastInner: KyselyStore | undefined;

  constructor(
    protected readonly db: Kysely<Database> | Transaction<Database>,
    options: KyselyStoreOptions = {},
  ) {
    this.onClose = options.onClose ?? (async () => {});
    this.onFlush = options.onFlush ?? (async () => {});
    this.queries = options.queries ?? new QueryCache();
    this.clients = options.clients ?? new ViewMemo();
    this.transactions = options.transactions;
    this.announceClientChange = options.announceClientChange ?? (async () => {});
    this.writableCtes = options.writableCtes ?? false;
    this.writeAlone = options.writeAlone;
    this.checkFile = options.checkFile ?? (() => {});
    this.rowLocks = options.rowLocks ?? false;
  }

  private newStoreIn(trx: Transaction<Database>): KyselyStore {
    return new KyselyStore(trx, {
      queries: this.queries,
      clients: this.clients,
      writableCtes: this.writableCtes,
      rowLocks: this.rowLocks,
    });
  }

  /** The store of `trx` when transactions run through `transactions`: they all share one `trx`, and so one store. */
  private storeIn(trx: Transaction<Database>): KyselyStore {
    if (this.lastInner?.db !== trx) this.lastInner = this.newStoreIn(trx);
    return this.lastInner;
  }

  /** The hot paths' queries, compiled once (see QueryCache). */
  private run<Row, Args extends unknown[]>(
    name: string,
    build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>,
    ...args: Args
  ) {
    const db = this.db as Kysely<Database>;
    return this.queries.execute(db, name, (...slots: Args) => build(db, ...slots), args, this.db.isTransaction);
  }

  /** A hot query compiled with these arguments, for a statement that runs elsewhere (see WriteAlone). */
  private compile<Row, Args extends unknown[]>(
    name: string,
    build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>,
    ...args: Args
  ) {
    const db = this.db as Kysely<Database>;
    return this.queries.compiled(name, (...slots: Args) => build(db, ...slots), args);
  }

  /**
   * The rows each statement changed (a query: returned), run as one group on the write thread;
   * undefined where there is none.
   */
  private writtenAlone(statements: CompiledQuery[]): Promise<number[] | undefined> {
    const { writeAlone } = this;
    if (!writeAlone) return Promise.resolve(undefined);
    return retryOnConflict(() => writeAlone(statements));
  }

  /**
   * Retries one statement that lost a deadlock or a serialization conflict when it runs on its own;
   * inside a transaction, the transaction is what gets retried.
   */
  private retriedAlone<T>(statement: () => Promise<T>): Promise<T> {
    return this.db.isTransaction ? statement() : retryOnConflict(statement);
  }

  async transaction<T>(work: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    const { transactions } = this;
    if (transactions) return retryOnConflict(() => transactions((trx) => work(this.storeIn(trx))));
    const db = this.db as Kysely<Database>;
    return retryOnConflict(() => db.transaction().execute((trx) => work(this.newStoreIn(trx))));
  }

  async createClient(client: ClientRecord): Promise<void> {
    await this.db
      .insertInto("clients")
      .values({
        id: client.id,
        name: client.name,
        secret_hash: client.secretHash,
        redirect_uris: JSON.stringify(client.redirectUris),
        scopes: joinScopes(client.scopes),
        created_at: client.createdAt,
        updated_at: client.updatedAt,
      })
      .execute();
    await this.announceClientChange();
  }

  getClient(id: string): Promise<ClientRecord | undefined> {
    if (!storable(id)) return Promise.resolve(undefined);
    return this.clients.read(id, async () => {
      const { rows } = await this.run(
        "getClient",
        (db, clientId: string) => db.selectFrom("clients").selectAll().where("id", "=", clientId),
        id,
      );
      return rows[0] && toClient(rows[0]);
    });
  }

  async listClients(after: string | undefined, limit: number): Promise<ClientRecord[]> {
    let query = this.db.selectFrom("clients").selectAll().orderBy("id").limit(limit);
    if (after !== undefined) query = query.where("id", ">", after);
    return (await query.execute()).map(toClient);
  }

  async deleteClient(id: string): Promise<boolean> {
    const deleted = await this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      // The client's row first: a transaction holding it (holdClient) makes this wait until it
      // commits, so the statements below see the lineage it wrote; one that comes later finds no client.
      if (this.rowLocks) await db.selectFrom("clients").select("id").where("id", "=", id).forUpdate().execute();
      await db.deleteFrom("tokens").where("client_id", "=", id).execute();
      await db.deleteFrom("authorization_codes").where("client_id", "=", id).execute();
      await db.deleteFrom("grants").where("client_id", "=", id).execute();
      await db.deleteFrom("consents").where("client_id", "=", id).execute();
      const result = await db.deleteFrom("clients").where("id", "=", id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
    if (deleted) await this.announceClientChange();
    return deleted;
  }

  async setClientSecretHash(
    id: string,
    secretHash: string,
    now: number,
    previousValidUntil?: number,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable("clients")
      .set((eb) => ({
        secret_hash: secretHash,
        updated_at: now,
        // The right-hand side reads the row as it was: the secret being replaced.
        previous_secret_hash: previousValidUntil === undefined ? null : eb.ref("clients.secret_hash"),
        previous_secret_expires_at: previousValidUntil ?? null,
      }))
      .where("id", "=", id)
      .executeTakeFirst();
    if (result.numUpdatedRows > 0n) await this.announceClientChange();
    return result.numUpdatedRows > 0n;
  }

  async updateClient(id: string, changes: ClientChanges, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable("clients")
      .set({
        updated_at: now,
        ...(changes.name !== undefined && { name: changes.name }),
        ...(changes.redirectUris !== undefined && { redirect_uris: JSON.stringify(changes.redirectUris) }),
        ...(changes.scopes !== undefined && { scopes: joinScopes(changes.scopes) }),
      })
      .where("id", "=", id)
      .executeTakeFirst();
    if (result.numUpdatedRows > 0n) await this.announceClientChange();
    return result.numUpdatedRows > 0n;
  }

  async createUser(user: UserRecord): Promise<void> {
    try {
      await this.db
        .insertInto("users")
        .values({
          id: user.id,
          email: user.email,
          password_hash: user.passwordHash,
          display_name: user.displayName,
          team_id: user.teamId,
          created_at: user.createdAt,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateError(`a user with email ${user.email} already exists`);
      throw error;
    }
  }

  async getUserByEmail(email: string): Promise<UserRecord | undefined> {
    if (!storable(email)) return undefined;
    const row = await this.db.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();
    return row && toUser(row);
  }

  async getUserById(id: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(after: string | undefined, limit: number): Promise<UserRecord[]> {
    let query = this.db.selectFrom("users").selectAll().orderBy("id").limit(limit);
    if (after !== undefined) query = query.where("id", ">", after);
    return (await query.execute()).map(toUser);
  }

  async deleteUserSessions(userId: string): Promise<number> {
    const result = await this.db.deleteFrom("sessions").where("user_id", "=", userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async setUserPassword(id: string, passwordHash: string): Promise<boolean> {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      const result = await db
        .updateTable("users")
        .set({ password_hash: passwordHash })
        .where("id", "=", id)
        .executeTakeFirst();
      await db.deleteFrom("sessions").where("user_id", "=", id).execute();
      return result.numUpdatedRows > 0n;
    });
  }

  async deleteUser(id: string): Promise<boolean> {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      // Grants and consents are keyed by client, then user: naming every client lets both engines
      // use those keys instead of reading the whole table. Every grant has its client (deleteClient
      // removes a client's grants with it).
      // The user's row goes first: a transaction holding it (holdUser) makes this wait until it
      // commits, so the statements below see what it wrote; one that comes later finds no user.
      const user = await db.deleteFrom("users").where("id", "=", id).executeTakeFirst();
      const clientIds = db.selectFrom("clients").select("id");
      const grantIds = db
        .selectFrom("grants")
        .select("id")
        .where("client_id", "in", clientIds)
        .where("user_id", "=", id);
      await db.deleteFrom("tokens").where("grant_id", "in", grantIds).execute();
      await db.deleteFrom("authorization_codes").where("user_id", "=", id).execute();
      await db.deleteFrom("grants").where("client_id", "in", clientIds).where("user_id", "=", id).execute();
      await db.deleteFrom("consents").where("client_id", "in", clientIds).where("user_id", "=", id).execute();
      await db.deleteFrom("sessions").where("user_id", "=", id).execute();
      return user.numDeletedRows > 0n;
    });
  }

  async holdUser(id: string): Promise<boolean> {
    // As in holdConsent, an update takes the row's lock on PostgreSQL and SQLite's write lock
    // already holds the whole database; created_at is in no index, so the new row version is cheap.
    const result = await this.db
      .updateTable("users")
      .set((eb) => ({ created_at: eb.ref("users.created_at") }))
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async holdClient(id: string): Promise<boolean> {
    const query = this.db.selectFrom("clients").select("id").where("id", "=", id);
    // FOR KEY SHARE, the lock a foreign key check takes: holders do not wait on one another, and
    // deleteClient's FOR UPDATE waits for them all. SQLite's write lock already holds the whole
    // database for the transaction, and SQLite has no row locks.
    const row = await (this.rowLocks ? query.forKeyShare() : query).executeTakeFirst();
    return row !== undefined;
  }

  async getConsent(clientId: string, userId: string): Promise<ConsentRecord | undefined> {
    const row = await this.db
      .selectFrom("consents")
      .selectAll()
      .where("client_id", "=", clientId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return row && toConsent(row, userId);
  }

  async saveConsent(consent: ConsentRecord): Promise<void> {
    const scopes = joinScopes(consent.scopes);
    await this.db
      .insertInto("consents")
      .values({ client_id: consent.clientId, user_id: consent.userId, scopes, updated_at: consent.updatedAt })
      .onConflict((oc) => oc.columns(["client_id", "user_id"]).doUpdateSet({ scopes, updated_at: consent.updatedAt }))
      .execute();
  }

  async holdConsent(clientId: string, userId: string, now: number): Promise<void> {
    // An upsert that updates takes the row's lock on PostgreSQL, and waits for another holder;
    // SQLite's write lock already holds the whole database for the transaction.
    await this.db
      .insertInto("consents")
      .values({ client_id: clientId, user_id: userId, scopes: "", updated_at: now })
      .onConflict((oc) =>
        oc.columns(["client_id", "user_id"]).doUpdateSet((eb) => ({ updated_at: eb.ref("consents.updated_at") })),
      )
      .execute();
  }

  async listConsents(userId: string): Promise<ConsentRecord[]> {
    const rows = await this.db
      .selectFrom("consents")
      .selectAll()
      // Keyed by client, then user: naming every client reads the user's entries, not the table.
      .where("client_id", "in", this.db.selectFrom("clients").select("id"))
      .where("user_id", "=", userId)
      .orderBy("updated_at", "desc")
      .orderBy("client_id")
      .execute();
    return rows.map((row) => toConsent(row, userId));
  }

  async deleteConsent(clientId: string, userId: string): Promise<void> {
    await this.run("deleteConsent", deleteConsentQuery, clientId, userId);
  }

  async createGrant(grant: GrantRecord): Promise<void> {
    await this.db
      .insertInto("grants")
      .values({
        id: grant.id,
        client_id: grant.clientId,
        user_id: grant.userId,
        scopes: joinScopes(grant.scopes),
        created_at: grant.createdAt,
        revoked_at: grant.revokedAt,
      })
      .execute();
  }

  async revokeGrant(grantId: string, now: number): Promise<boolean> {
    if (this.transactions && !this.db.isTransaction) {
      // SQLite: on the write thread; failing that, in the batch rather than committing alone while
      // waiting for the write lock on the main thread. Elsewhere one statement is atomic as it is.
      const changes = await this.writtenAlone([this.compile("revokeGrant", revokeGrantQuery, grantId, now)]);
      if (changes) return (changes[0] ?? 0) > 0;
      return this.transaction((tx) => tx.revokeGrant(grantId, now));
    }
    const result = await this.retriedAlone(() => this.run("revokeGrant", revokeGrantQuery, grantId, now));
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  async revokeGrantsOf(clientId: string, userId: string, now: number): Promise<number> {
    const result = await this.run("revokeGrantsOf", revokeGrantsOfQuery, clientId, userId, now);
    return Number(result.numAffectedRows ?? 0n);
  }

  async revokeToken(hash: string, clientId: string, now: number): Promise<boolean> {
    if (this.writableCtes) {
      // Data-modifying CTEs all see the snapshot the statement began with: the token is still there.
      const { rows } = await this.retriedAlone(() =>
        this.run(
          "revokeToken",
          (db, tokenHash: string, client: string, at: number) =>
            db
              // The lineage of an access token; every lineage of the user of a refresh token, and the consent.
              .with("lineage", (q) =>
                revokeGrantQuery(q, ofTokenOfKind(q, "grant_id", tokenHash, client, "access"), at).returning("id"),
              )
              .with("lineages", (q) =>
                revokeGrantsOfQuery(q, client, ofTokenOfKind(q, "user_id", tokenHash, client, "refresh"), at).returning(
                  "id",
                ),
              )
              // The consent as the snapshot has it, then as deleted: the latest version of its row.
              .with("seen", (q) =>
                consentQuery(q, client, ofTokenOfKind(q, "user_id", tokenHash, client, "refresh")).select([
                  "user_id",
                  ROW_VERSION.as("version"),
                ]),
              )
              .with("consent", (q) =>
                deleteConsentQuery(q, client, q.selectFrom("seen").select("user_id").$asScalar()).returning([
                  "user_id",
                  ROW_VERSION.as("version"),
                ]),
              )
              .selectFrom("tokens")
              .select((eb) => [
                eb.selectFrom("consent").select("user_id").as("withdrawn_from"),
                eb.selectFrom("consent").select("version").as("deleted_version"),
                eb.selectFrom("seen").select("version").as("seen_version"),
              ])
              .where("hash", "=", tokenHash)
              .where("client_id", "=", client),
          hash,
          clientId,
          now,
        ),
      );
      const row = rows[0];
      // Every issuance under a consent updates its row (holdConsent). A row version newer than the
      // statement's snapshot means one committed while the delete waited for it: its lineage is
      // invisible to this statement, so a second one, with a snapshot of its own, revokes it.
      if (row?.withdrawn_from && row.deleted_version !== row.seen_version) {
        await this.retriedAlone(() =>
          this.run("revokeGrantsOf", revokeGrantsOfQuery, clientId, String(row.withdrawn_from), now),
        );
      }
      return row !== undefined;
    }
    if (!this.db.isTransaction) {
      // SQLite: the lookup runs with the writes on the write thread, whose pages are warm; the
      // serving connection's would be cold after the thread's last commit. The writes take the
      // grant or user from the lookup's row rather than a subquery each: one index descent
      // instead of four, and an update without a subquery changes its rows in one pass, where
      // one with a subquery first gathers their keys in a temporary table.
      const counts = await this.writtenAlone([
        this.compile("tokenToRevoke", tokenToRevokeQuery, hash, clientId),
        this.compile(
          "revokeGrantOfLeadingRow",
          (db, at: number) => revokeGrantQuery(db, leadingRow("access_grant"), at),
          now,
        ),
        this.compile(
          "revokeGrantsOfLeadingRow",
          (db, client: string, at: number) => revokeGrantsOfQuery(db, client, leadingRow("refresh_user"), at),
          clientId,
          now,
        ),
        this.compile(
          "deleteConsentOfLeadingRow",
          (db, client: string) => deleteConsentQuery(db, client, leadingRow("refresh_user")),
          clientId,
        ),
      ]);
      if (counts) return (counts[0] ?? 0) > 0;
    }
    return this.transaction(async (tx) => {
      const inner = tx as KyselyStore;
      const { rows } = await inner.run("tokenToRevoke", tokenToRevokeQuery, hash, clientId);
      const row = rows[0];
      if (row?.access_grant) await inner.run("revokeGrant", revokeGrantQuery, row.access_grant, now);
      if (row?.refresh_user) {
        await inner.run("revokeGrantsOf", revokeGrantsOfQuery, clientId, row.refresh_user, now);
        await inner.run("deleteConsent", deleteConsentQuery, clientId, row.refresh_user);
      }
      return row !== undefined;
    });
  }

  async createAuthorizationCode(code: AuthorizationCodeRecord): Promise<void> {
    await this.db
      .insertInto("authorization_codes")
      .values({
        hash: code.hash,
        grant_id: code.grantId,
        client_id: code.clientId,
        user_id: code.userId,
        redirect_uri: code.redirectUri,
        redirect_uri_explicit: code.redirectUriExplicit ? 1 : 0,
        code_challenge: code.codeChallenge,
        scopes: joinScopes(code.scopes),
        created_at: code.createdAt,
        expires_at: code.expiresAt,
        consumed_at: code.consumedAt,
      })
      .execute();
  }

  async hasOutstandingCodeWithoutPkce(clientId: string, userId: string, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom("authorization_codes")
      .select("hash")
      .where("client_id", "=", clientId)
      .where("user_id", "=", userId)
      .where("consumed_at", "is", null)
      .where("expires_at", ">", now)
      .where("code_challenge", "is", null)
      .executeTakeFirst();
    return row !== undefined;
  }

  async findAuthorizationCode(hash: string): Promise<AuthorizationCodeRecord | undefined> {
    const { rows } = await this.run(
      "findAuthorizationCode",
      (db, codeHash: string) =>
        db
          .selectFrom("authorization_codes")
          .select([
            "grant_id",
            "client_id",
            "user_id",
            "redirect_uri",
            "redirect_uri_explicit",
            "code_challenge",
            "scopes",
            "created_at",
            "expires_at",
            "consumed_at",
          ])
          .where("hash", "=", codeHash),
      hash,
    );
    return rows[0] && toCode(hash, rows[0]);
  }

  async redeemAuthorizationCode(hash: string, clientId: string, now: number): Promise<RedeemOutcome> {
    const result = await this.run("redeemAuthorizationCode", redeemCodeQuery, hash, clientId, now);
    if (spentOne(result)) return { status: "redeemed" };
    return this.whyNotRedeemed(hash, clientId, now);
  }

  async exchangeAuthorizationCode(
    hash: string,
    clientId: string,
    now: number,
    tokens: TokenRecord[],
  ): Promise<RedeemOutcome> {
    return this.spendAndSave("redeemAuthorizationCode", redeemCodeQuery, hash, clientId, now, tokens, [], {
      spent: { status: "redeemed" },
      whyNot: (store) => store.whyNotRedeemed(hash, clientId, now),
    });
  }

  /**
   * `spend` marks the client's code or refresh token used and, only if it did, `tokens` are stored:
   * on PostgreSQL in one statement, elsewhere in one transaction. Otherwise `whyNot` tells why.
   */
  private async spendAndSave<Spent extends "authorization_codes" | "tokens", Outcome, Extra extends unknown[]>(
    name: string,
    spend: (
      db: QueryCreator<Database>,
      hash: string,
      client: string,
      at: number,
      ...extra: Extra
    ) => UpdateQueryBuilder<Database, Spent, Spent, UpdateResult>,
    hash: string,
    clientId: string,
    now: number,
    tokens: TokenRecord[],
    /** `spend`'s own arguments after the time. */
    extra: Extra,
    outcomes: { spent: Outcome; whyNot: (store: KyselyStore) => Promise<Outcome> },
  ): Promise<Outcome> {
    if (!this.writableCtes || tokens.length === 0) {
      return this.transaction(async (tx) => {
        const inner = tx as KyselyStore;
        if (!spentOne(await inner.run(name, spend, hash, clientId, now, ...extra))) return outcomes.whyNot(inner);
        await inner.saveTokens(tokens);
        return outcomes.spent;
      });
    }
    const saving = this.retriedAlone(() =>
      this.run(
        `${name}AndSave${tokens.length}`,
        (db, spentHash: string, client: string, at: number, ...values: unknown[]) =>
          db
            .with("spent", (q) =>
              spend(q, spentHash, client, at, ...(values.slice(0, extra.length) as Extra)).returning("hash"),
            )
            .insertInto("tokens")
            .columns(TOKEN_COLUMNS)
            .expression(tokenRowsIfSpent(values.slice(extra.length)))
            .returning("hash"),
        hash,
        clientId,
        now,
        ...extra,
        ...tokenValues(tokens),
      ),
    );
    let rows: unknown[];
    try {
      ({ rows } = await saving);
    } catch (error) {
      // The connection broke after the statement was sent: it may have committed, with its answer
      // lost. Its tokens tell, read on another connection; a client told to retry a spend that
      // stood would present a spent code or token, and lose its lineage for reuse.
      const [first] = tokens;
      if (first && isUnavailable(error) && (await this.findToken(first.hash).catch(() => undefined))) {
        return outcomes.spent;
      }
      throw error;
    }
    return rows.length > 0 ? outcomes.spent : outcomes.whyNot(this);
  }

  /** Why the client's code could not be redeemed. */
  private async whyNotRedeemed(hash: string, clientId: string, now: number): Promise<RedeemOutcome> {
    const code = await this.findAuthorizationCode(hash);
    if (!code || code.clientId !== clientId) return { status: "unknown" };
    if (code.consumedAt !== null) return { status: "reused", code };
    if (code.expiresAt <= now) return { status: "expired" };
    return { status: "revoked" };
  }

  async saveTokens(tokens: TokenRecord[]): Promise<void> {
    if (tokens.length === 0) return;
    await this.run(
      `saveTokens${tokens.length}`,
      (db, ...slots: unknown[]) => db.insertInto("tokens").values(tokenRows(slots)),
      ...tokenValues(tokens),
    );
  }

  async findToken(hash: string): Promise<TokenWithGrant | undefined> {
    const { rows } = await this.run(
      "findToken",
      (db, tokenHash: string) =>
        db
          .selectFrom("tokens")
          .innerJoin("grants", "grants.id", "tokens.grant_id")
          // Not the hash: the caller has it, and each text column read is a string to allocate.
          .select(TOKEN_FIELDS.map((column) => `tokens.${column}` as const))
          .select("grants.revoked_at as grant_revoked_at")
          .where("tokens.hash", "=", tokenHash),
      hash,
    );
    const row = rows[0];
    return row && toToken(hash, row, row.grant_revoked_at);
  }

  async consumeRefreshToken(hash: string, clientId: string, now: number): Promise<ConsumeOutcome> {
    const result = await this.run("consumeRefreshToken", consumeRefreshQuery, hash, clientId, now, null);
    if (spentOne(result)) return { status: "consumed" };
    return this.whyNotConsumed(hash, clientId);
  }

  async replaceRotation(hash: string, clientId: string, now: number, tokens: TokenRecord[]): Promise<ConsumeOutcome> {
    return this.transaction((tx) => (tx as KyselyStore).replaceSuccessor(hash, clientId, now, tokens));
  }

  /** `replaceRotation` inside its transaction. */
  private async replaceSuccessor(
    hash: string,
    clientId: string,
    now: number,
    tokens: TokenRecord[],
  ): Promise<ConsumeOutcome> {
    // An update that changes nothing, to read the successor under the row's lock: on PostgreSQL a
    // concurrent retry waits here for this one to commit, then reads the successor this one named.
    const parent = await this.db
      .updateTable("tokens")
      .set((eb) => ({ successor: eb.ref("successor") }))
      .where("hash", "=", hash)
      .where("client_id", "=", clientId)
      .where("kind", "=", "refresh")
      .returning("successor")
      .executeTakeFirst();
    const successor = parent?.successor;
    if (successor == null) return this.whyNotReplaced(hash, clientId);
    // Only while the successor is unused: once the client has rotated it, the parent is spent for good.
    const replaced = await this.db
      .updateTable("tokens")
      .set({ consumed_at: now })
      .where("hash", "=", successor)
      .where("consumed_at", "is", null)
      .where(inLiveLineage("tokens.grant_id"))
      .returning(["grant_id", "created_at"])
      .executeTakeFirst();
    if (replaced === undefined) return this.whyNotReplaced(hash, clientId);
    // The access token minted beside it goes too: the lineage keeps one live pair.
    await this.db
      .updateTable("tokens")
      .set({ consumed_at: now })
      .where("grant_id", "=", replaced.grant_id)
      .where("kind", "=", "access")
      .where("created_at", "=", replaced.created_at)
      .where("consumed_at", "is", null)
      .execute();
    await this.db
      .updateTable("tokens")
      .set({ successor: successorOf(tokens) })
      .where("hash", "=", hash)
      .execute();
    await this.saveTokens(tokens);
    return { status: "consumed" };
  }

  async rotateRefreshToken(
    hash: string,
    clientId: string,
    now: number,
    tokens: TokenRecord[],
  ): Promise<ConsumeOutcome> {
    return this.spendAndSave(
      "consumeRefreshToken",
      consumeRefreshQuery,
      hash,
      clientId,
      now,
      tokens,
      [successorOf(tokens)] as [string | null],
      {
        spent: { status: "consumed" },
        whyNot: (store) => store.whyNotConsumed(hash, clientId),
      },
    );
  }

  /** Why a rotation of the client's refresh token could not be answered again: a spent token is "reused". */
  private async whyNotReplaced(hash: string, clientId: string): Promise<ConsumeOutcome> {
    // A token not yet spent has no rotation to answer again, whatever else `whyNotConsumed` would say of it.
    const outcome = await this.whyNotConsumed(hash, clientId);
    return outcome.status === "reused" ? outcome : { status: "unknown" };
  }

  /** Why the client's refresh token could not be consumed. */
  private async whyNotConsumed(hash: string, clientId: string): Promise<ConsumeOutcome> {
    const row = await this.findToken(hash);
    if (row?.kind !== "refresh" || row.clientId !== clientId) return { status: "unknown" };
    if (row.consumedAt !== null) return { status: "reused", token: row };
    if (row.grantRevokedAt !== null) return { status: "revoked" };
    return { status: "expired" };
  }

  async getSecretCheck(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("secret_check")
      .select("value")
      .where("id", "=", SECRET_CHECK_ID)
      .executeTakeFirst();
    return row?.value;
  }

  async claimSecretCheck(value: string): Promise<string> {
    await this.db
      .insertInto("secret_check")
      .values({ id: SECRET_CHECK_ID, value })
      .onConflict((conflict) => conflict.column("id").doNothing())
      .execute();
    const recorded = await this.getSecretCheck();
    if (recorded === undefined) throw new Error("the secret check was not recorded");
    return recorded;
  }

  async addSigningKey(key: SigningKeyRecord): Promise<void> {
    try {
      await this.db
        .insertInto(KEY_TABLES[key.purpose])
        .values({
          kid: key.kid,
          alg: key.alg,
          public_jwk: key.publicJwk,
          private_jwk_encrypted: key.privateJwkEncrypted,
          created_at: key.createdAt,
          retired_at: key.retiredAt,
          publish_until: key.publishUntil,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateError("another signing key is already current");
      throw error;
    }
  }

  async listSigningKeys(now: number, purpose: KeyPurpose = "tokens"): Promise<SigningKeyRecord[]> {
    const rows = await this.db
      .selectFrom(KEY_TABLES[purpose])
      .selectAll()
      .where((eb) => eb.or([eb("publish_until", "is", null), eb("publish_until", ">", now)]))
      .orderBy("created_at", "desc")
      .orderBy("kid", "desc")
      .execute();
    return rows.map((row) => toSigningKey(row, purpose));
  }

  async retireSigningKeys(now: number, publishUntil: number, purpose: KeyPurpose): Promise<void> {
    await this.db
      .updateTable(KEY_TABLES[purpose])
      .set({ retired_at: now, publish_until: publishUntil })
      .where("retired_at", "is", null)
      .execute();
  }

  async createSession(session: SessionRecord, passwordHash: string): Promise<boolean> {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      // As holdUser, and only while the password is the one checked: on PostgreSQL the update takes
      // the user's row lock, so a password change waits for this to commit and then ends this
      // session with the others, or commits first and leaves this update nothing to match.
      const held = await db
        .updateTable("users")
        .set((eb) => ({ created_at: eb.ref("users.created_at") }))
        .where("id", "=", session.userId)
        .where("password_hash", "=", passwordHash)
        .executeTakeFirst();
      if (held.numUpdatedRows === 0n) return false;
      await db
        .insertInto("sessions")
        .values({
          hash: session.hash,
          user_id: session.userId,
          created_at: session.createdAt,
          expires_at: session.expiresAt,
        })
        .execute();
      return true;
    });
  }

  async findSession(hash: string, now: number): Promise<SessionRecord | undefined> {
    const row = await this.db
      .selectFrom("sessions")
      .selectAll()
      .where("hash", "=", hash)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    return row && toSession(row);
  }

  async deleteSession(hash: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("hash", "=", hash).execute();
  }

  pruneExpired(now: number, batchSize: number): Promise<PruneCounts> {
    return pruneExpired(this.db, now, batchSize);
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
