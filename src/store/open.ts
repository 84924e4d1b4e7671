import type { Kysely } from "kysely";
import { isPostgresUrl } from "./engine.js";
import { KyselyStore, type TransactionRunner } from "./kysely-store.js";
import { type Engine, migrateDatabase, migrationsAhead } from "./migrate.js";
import { DEFAULT_POOL_SETTINGS, type PoolSettings } from "./pool-settings.js";
import type { ClientChangeTimings, PostgresClientChanges } from "./postgres-client-changes.js";
import { QueryCache, type RunNow } from "./query-cache.js";
import type { Database } from "./schema.js";
import type { WriteAlone } from "./sqlite.js";
import type { Store } from "./types.js";
import { type ReadView, ViewMemo } from "./view-memo.js";

/** The view of the clients table, which the store's client memo follows. */
export function clientsView({
  tableView,
  clientChanges,
}: Pick<ConnectedDatabase, "tableView" | "clientChanges">): ReadView | undefined {
  return clientChanges?.view ?? (tableView && (() => tableView("clients")));
}

export interface ConnectedDatabase {
  db: Kysely<Database>;
  engine: Engine;
  /** Receives errors of idle PostgreSQL connections (the pool replaces them); nothing by default. */
  onConnectionError(listener: (error: Error) => void): void;
  /** PostgreSQL only: hears that a connection whose loss went to `onConnectionError` works again. */
  onConnectionRestored(listener: (message: string) => void): void;
  /**
   * SQLite only: called once if a disk sync fails (see DurabilityLostError); from then on every
   * flush rejects. PostgreSQL's server handles its own sync failures.
   */
  onDurabilityLost(listener: (error: Error) => void): void;
  /** Resolves once every committed write is on stable storage (PostgreSQL's commit already is). */
  flush(): Promise<void>;
  /** Closes the connection or pool. */
  close(): Promise<void>;
  /** SQLite only: runs a compiled query at once when it need not wait for the connection. */
  runNow?: RunNow;
  /** SQLite only: which view of a table the connection reads (see ViewMemo). */
  tableView?: (table: string) => number;
  /** SQLite only: runs a transaction without Kysely's per-transaction objects. */
  transactions?: TransactionRunner;
  /** SQLite only: runs idempotent write groups on a thread of their own (see WriteAlone). */
  writeAlone?: WriteAlone;
  /** SQLite only: throws when the path no longer names the file opened (see DatabaseFileMovedError). */
  checkFile?: () => void;
  /** PostgreSQL only: the view of the clients table, heard from the other processes (see PostgresClientChanges). */
  clientChanges?: Pick<PostgresClientChanges, "view" | "announce">;
}

export interface OpenedStore extends ConnectedDatabase {
  store: Store;
  /** Migrations this open applied, oldest first. */
  migrationsApplied: string[];
  /** Migrations a newer build applied that this one does not know (see `migrationsAhead`): none were applied then. */
  migrationsAheadOfBuild: string[];
}

export interface StoreOptions {
  pool?: PoolSettings;
  /** SQLite only: replaces fdatasync of the WAL, so tests can put a failing disk under the store. */
  syncWal?: (fd: number) => Promise<void>;
  /** PostgreSQL only: overrides CLIENT_CHANGE_TIMINGS. */
  clientChanges?: Partial<Omit<ClientChangeTimings, "connectTimeoutMs">>;
}

/**
 * Connects to the database `url` names (a `postgres://` URL or a SQLite path) without touching its
 * schema. Only the chosen engine's driver is loaded.
 */
/** A listener the caller gives after opening: `call` goes to whichever `set` gave last, to none before. */
function laterListener<T>(): { call: (value: T) => void; set: (next: (value: T) => void) => void } {
  let listener: (value: T) => void = () => {};
  return {
    call: (value) => listener(value),
    set: (next) => {
      listener = next;
    },
  };
}

export async function connectDatabase(url: string, options: StoreOptions = {}): Promise<ConnectedDatabase> {
  const engine: Engine = isPostgresUrl(url) ? "postgres" : "sqlite";
  const connectionError = laterListener<Error>();
  const connectionRestored = laterListener<string>();
  const durabilityLost = laterListener<Error>();
  const listeners = {
    onConnectionError: connectionError.set,
    onConnectionRestored: connectionRestored.set,
    onDurabilityLost: durabilityLost.set,
  };
  if (engine === "postgres") {
    const { openPostgres } = await import("./postgres.js");
    const { PostgresClientChanges, CLIENT_CHANGE_TIMINGS } = await import("./postgres-client-changes.js");
    const pool = options.pool ?? DEFAULT_POOL_SETTINGS;
    const db = openPostgres(url, pool, connectionError.call);
    const clientChanges = new PostgresClientChanges(
      url,
      db,
      { ...CLIENT_CHANGE_TIMINGS, ...options.clientChanges, connectTimeoutMs: pool.connectTimeoutMs },
      connectionError.call,
      connectionRestored.call,
    );
    const close = async () => {
      await clientChanges.close();
      await db.destroy();
    };
    return { db, engine, ...listeners, flush: async () => {}, close, clientChanges };
  }
  const { openSqlite } = await import("./sqlite.js");
  const sqlite = openSqlite(url, { syncWal: options.syncWal, onDurabilityLost: durabilityLost.call });
  return { engine, ...listeners, ...sqlite };
}

/** Connects and brings the schema up to date. */
export async function openStore(url: string, options: StoreOptions = {}): Promise<OpenedStore> {
  const connected = await connectDatabase(url, options);
  const { db, engine } = connected;
  let migrationsApplied: string[];
  let migrationsAheadOfBuild: string[];
  try {
    migrationsAheadOfBuild = await migrationsAhead(db, engine);
    migrationsApplied = migrationsAheadOfBuild.length > 0 ? [] : await migrateDatabase(db, engine);
  } catch (error) {
    await connected.close();
    throw error;
  }
  return { ...connected, store: storeOver(connected), migrationsApplied, migrationsAheadOfBuild };
}

/** The store over a connected database, whatever its schema; `openStore` migrates first. */
export function storeOver(connected: ConnectedDatabase): Store {
  return new KyselyStore(connected.db, {
    onClose: connected.close,
    onFlush: connected.flush,
    queries: new QueryCache(connected.runNow),
    clients: new ViewMemo(clientsView(connected)),
    announceClientChange: connected.clientChanges?.announce.bind(connected.clientChanges),
    transactions: connected.transactions,
    writeAlone: connected.writeAlone,
    checkFile: connected.checkFile,
    writableCtes: connected.engine === "postgres",
    rowLocks: connected.engine === "postgres",
    statementsHoldEventLoop: connected.engine === "sqlite",
  });
}
