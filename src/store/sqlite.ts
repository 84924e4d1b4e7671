import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, type SqliteDatabase, SqliteDialect, sql } from "kysely";
import { isTransientConflict } from "./errors.js";
import type { Database } from "./schema.js";

/** How long a writer waits for another process's write lock before SQLite answers SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;
/** How long opening a file waits for another process that is migrating it. */
const MIGRATION_LOCK_WAIT_MS = 60_000;

/**
 * Kysely starts transactions with a plain `begin`. `begin immediate` takes the write lock up
 * front, so a transaction that reads before it writes cannot fail with SQLITE_BUSY_SNAPSHOT when
 * another process (a cluster worker) committed in between.
 */
function withImmediateTransactions(database: SQLite.Database): SqliteDatabase {
  return {
    close: () => database.close(),
    prepare: (statement: string) => database.prepare(statement === "begin" ? "begin immediate" : statement),
  };
}

export function openSqlite(path: string): Kysely<Database> {
  if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  // Set first, so that switching the journal mode also waits for another process opening the file.
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  database.pragma("journal_mode = WAL");
  // FULL: a transaction acknowledged to a client survives a crash of the process or the machine.
  database.pragma("synchronous = FULL");
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withImmediateTransactions(database) }) });
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
