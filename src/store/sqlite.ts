import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";
import {
  type CompiledQuery,
  type Dialect,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
  Transaction,
} from "kysely";
import { isTransientConflict } from "./errors.js";
import type { TransactionRunner } from "./kysely-store.js";
import type { RunNow } from "./query-cache.js";
import type { Database } from "./schema.js";
import { BetterSqliteDriver } from "./sqlite-driver.js";
import { WalCheckpointer } from "./wal-checkpointer.js";
import { type DurabilityLostError, WalSync } from "./wal-sync.js";
import { isWriteThreadLost, WriteThread } from "./write-thread.js";

/** How long a writer waits for another connection's write lock before it fails with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;
/**
 * A restarted WAL is overwritten from its start but keeps the length it reached. After a bulk
 * write (a large prune, an import) grew it past this, the checkpoint thread empties it once the
 * server is quiet (see checkpoint-worker.ts); without that thread, the first commit after the
 * restart cuts it back to this. Steady load can grow it past this too (to 131 MiB in 8 s of the
 * benchmark's rotations); it is emptied in the same way once the load pauses.
 */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/**
 * The page size of a database file keyward creates (SQLite's default is 4096). A token's rows and
 * index entries land on pages no neighbour shares (a rotation marks a token minted minutes ago as
 * used, and its grant's index entry sits among other users'), so each commit writes a whole page
 * for each of them, to the WAL and again when it is checkpointed. Smaller pages carry less around
 * each changed row: refresh rotation wrote 7 KB of disk a request instead of 12, exchange 4.6
 * instead of 5.8, at the same rate (docs/internals.md, "1 KiB pages"). A file that
 * already exists keeps the page size it was made with.
 */
export const NEW_FILE_PAGE_SIZE = 1024;
/**
 * The page cache, in KiB, of each connection that serves requests (the serving connection and the
 * write thread's); better-sqlite3 builds SQLite with 16 MiB. What the requests touch again soon
 * (the b-trees' upper levels, the newest tokens) fits in this; the rest comes from the operating
 * system's file cache. The larger cache cost 9-16 MiB more peak RSS under the benchmark, and it
 * made some commits slow: when SQLite rebalances a b-tree it swaps sibling pages' numbers through
 * a spare number far past the file's end, and the next commit then walks the cache's whole hash
 * table, which grows with the cache (docs/performance.md, "Memory").
 */
export const PAGE_CACHE_KIB = 4096;
/** How long opening a file waits for another process that is migrating it. */
const MIGRATION_LOCK_WAIT_MS = 60_000;

const SETTLED = Promise.resolve();

export interface OpenedSqlite {
  db: Kysely<Database>;
  /** Resolves once every transaction committed so far is on stable storage. */
  flush(): Promise<void>;
  /** Commits what is pending and closes the file. */
  close(): Promise<void>;
  /** Runs a compiled query at once when it need not wait for the connection (see BetterSqliteDriver.executeNow). */
  runNow: RunNow;
  /** See BetterSqliteDriver.tableView. */
  tableView: (table: string) => number;
  /** Runs `work` as one transaction (see BetterSqliteDriver.transaction). */
  transactions: TransactionRunner;
  /** See `WriteAlone`; absent for an in-memory database, which no other connection can open. */
  writeAlone?: WriteAlone;
  /** Throws DatabaseFileMovedError when the path no longer names the file this connection opened. */
  checkFile(): void;
}

/**
 * The file at the database's path is no longer the one the server opened: it was replaced or
 * removed while the server ran. A connection opened now (the revocations' write thread starts on
 * first use) would write to another database than the serving connection reads. Named as
 * SQLite names its own such refusal, so it is answered as an outage (503), never a 500.
 */
export class DatabaseFileMovedError extends Error {
  readonly code = "SQLITE_READONLY_DBMOVED";
  constructor(path: string) {
    super(`the database file ${path} was replaced or removed while the server ran: restart it`);
  }
}

/** The device and inode a path names now, or undefined when nothing is there. */
function fileIdentity(path: string): string | undefined {
  try {
    const { dev, ino } = statSync(path);
    return `${dev}:${ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Runs compiled write statements as one atomic group on the write thread (see WriteThread) and
 * answers the rows each changed (or, for a query among them, returned); undefined when the caller
 * must write on the serving connection instead (no thread, or it failed). Only idempotent groups
 * may come here: a group whose batch was lost with a failing thread, committed or not, is left for
 * the caller to run again.
 */
export type WriteAlone = (statements: CompiledQuery[]) => Promise<number[] | undefined>;

export interface SqliteOptions {
  /** Syncs the WAL file to disk; fdatasync unless a test puts a failing disk in its place. */
  syncWal?: (fd: number) => Promise<void>;
  /** Called once, when a sync of the WAL fails (see DurabilityLostError). */
  onDurabilityLost?: (error: DurabilityLostError) => void;
}

export function openSqlite(path: string, options: SqliteOptions = {}): OpenedSqlite {
  if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  // Set first, so that switching the journal mode also waits for another process opening the file.
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Takes effect only while the file is still empty; once in WAL mode, a file's page size is fixed.
  database.pragma(`page_size = ${NEW_FILE_PAGE_SIZE}`);
  database.pragma("journal_mode = WAL");
  // NORMAL: a commit is in the WAL when it returns (it survives a crash of the process); the server
  // then syncs the WAL (fdatasync) before it acknowledges anything (see WalSync), so it survives a power loss too.
  database.pragma("synchronous = NORMAL");
  database.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  database.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  const wal = new WalSync(path === ":memory:" ? "" : `${resolve(path)}-wal`, options.syncWal, options.onDurabilityLost);
  const checkpointer =
    path === ":memory:" ? undefined : new WalCheckpointer(database, resolve(path), WAL_SIZE_LIMIT_BYTES);
  const driver = new BetterSqliteDriver(database, wal, BUSY_TIMEOUT_MS);
  const opened = path === ":memory:" ? undefined : fileIdentity(resolve(path));
  const checkFile = () => {
    if (opened !== undefined && fileIdentity(resolve(path)) !== opened) throw new DatabaseFileMovedError(resolve(path));
  };
  // Started on first use: most commands of the CLI never revoke anything. It opens the file by its
  // path, so only while the path still names the file the serving connection has open.
  let writeThread: WriteThread | undefined;
  const startedWriteThread = () => {
    if (writeThread === undefined) {
      checkFile();
      writeThread = new WriteThread(
        resolve(path),
        BUSY_TIMEOUT_MS,
        () => {
          wal.noteWrite();
          return driver.afterOtherCommit();
        },
        PAGE_CACHE_KIB,
      );
    }
    return writeThread;
  };
  const dialect: Dialect = {
    createDriver: () => driver,
    createAdapter: () => new SqliteAdapter(),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (kysely) => new SqliteIntrospector(kysely),
  };
  const db = new Kysely<Database>({ dialect });
  // One transaction object serves every transaction: there is one connection, and the driver
  // holds it for whichever transaction runs.
  const held = new Transaction<Database>({
    config: { dialect },
    dialect,
    driver,
    executor: db.getExecutor().withConnectionProvider({
      provideConnection: (consume) => consume(driver.heldConnection),
    }),
  });
  return {
    db,
    transactions: (work) => driver.transaction(() => work(held)),
    runNow: (query, inOwnTransaction) => driver.executeNow(query, inOwnTransaction),
    tableView: (table) => driver.tableView(table),
    writeAlone: path === ":memory:" ? undefined : async (statements) => writeAlone(startedWriteThread(), statements),
    checkFile,
    flush() {
      // Most reads wrote nothing; answering them must not cost a promise chain.
      if (!driver.hasOpenBatch && !wal.hasUnsyncedWrites) return SETTLED;
      return driver.settle().then(() => wal.flush());
    },
    async close() {
      await writeThread?.stop();
      await db.destroy();
      await checkpointer?.stop();
      wal.close();
    },
  };
}

async function writeAlone(thread: WriteThread, statements: CompiledQuery[]): Promise<number[] | undefined> {
  try {
    return await thread.run(statements);
  } catch (error) {
    if (isWriteThreadLost(error)) return undefined;
    throw error;
  }
}

/** Migrations by connections of this process, one after another. */
let migrationsHere: Promise<unknown> = Promise.resolve();

/**
 * Runs `work` inside one write transaction. Kysely's migrator takes no lock on SQLite, so this is
 * what keeps processes that open one file at once from migrating it twice. Connections within one
 * process take turns first: waiting for the lock blocks the thread, so the holder could never finish.
 */
export function underSqliteWriteLock<T>(db: Kysely<Database>, work: () => Promise<T>): Promise<T> {
  const turn = migrationsHere.catch(() => {}).then(() => holdingWriteLock(db, work));
  migrationsHere = turn;
  return turn;
}

async function holdingWriteLock<T>(db: Kysely<Database>, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
  for (;;) {
    try {
      await sql`begin immediate`.execute(db);
      break;
    } catch (error) {
      if (!isTransientConflict(error) || Date.now() > deadline) throw error;
    }
  }
  try {
    const result = await work();
    await sql`commit`.execute(db);
    return result;
  } catch (error) {
    await sql`rollback`.execute(db).catch(() => {});
    throw error;
  }
}
