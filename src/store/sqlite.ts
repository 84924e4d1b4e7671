import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, type SqliteDatabase, SqliteDialect, type SqliteStatement, sql } from "kysely";
import { isTransientConflict } from "./errors.js";
import type { Database } from "./schema.js";
import { WalSync } from "./wal-sync.js";

/** How long a writer waits for another process's write lock before SQLite answers SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;
/** How long opening a file waits for another process that is migrating it. */
const MIGRATION_LOCK_WAIT_MS = 60_000;

const MAX_CACHED_STATEMENTS = 500;

/**
 * What Kysely sees of better-sqlite3, with three changes:
 * - statements are prepared once and reused (Kysely's driver would prepare every query anew);
 * - every statement that can write is noted, so `WalSync.flush` knows what to make durable;
 * - Kysely starts transactions with a plain `begin`; `begin immediate` takes the write lock up
 *   front, so a transaction that reads before it writes cannot fail with SQLITE_BUSY_SNAPSHOT
 *   when another process (a cluster worker) committed in between.
 */
function adaptForKysely(database: SQLite.Database, wal: WalSync): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  const prepare = (text: string): SqliteStatement => {
    const source = text === "begin" ? "begin immediate" : text;
    const statement = database.prepare(source);
    if (/^\s*select\b/i.test(source)) return statement;
    return {
      reader: statement.reader,
      all: (parameters) => {
        const rows = statement.all(parameters);
        wal.noteWrite();
        return rows;
      },
      run: (parameters) => {
        const result = statement.run(parameters);
        wal.noteWrite();
        return result;
      },
      iterate: (parameters) => statement.iterate(parameters),
    };
  };
  return {
    close: () => database.close(),
    prepare: (text: string) => {
      let statement = statements.get(text);
      if (!statement) {
        statement = prepare(text);
        if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

export interface OpenedSqlite {
  db: Kysely<Database>;
  wal: WalSync;
}

export function openSqlite(path: string): OpenedSqlite {
  if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  // Set first, so that switching the journal mode also waits for another process opening the file.
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  database.pragma("journal_mode = WAL");
  // NORMAL: a commit is in the WAL when it returns (it survives a crash of the process); the server
  // then fsyncs the WAL before it acknowledges anything (see WalSync), so it survives a power loss too.
  database.pragma("synchronous = NORMAL");
  const wal = new WalSync(path === ":memory:" ? "" : `${resolve(path)}-wal`);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: adaptForKysely(database, wal) }) });
  return { db, wal };
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
