import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { isPostgresUrl } from "../config.js";
import { KyselyStore } from "./kysely-store.js";
import { migrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";
import type { Store } from "./types.js";

// int8 columns hold epoch milliseconds, well inside a double's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface OpenedStore {
  store: Store;
  db: Kysely<Database>;
  engine: "sqlite" | "postgres";
}

function openSqlite(path: string): Kysely<Database> {
  if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  database.pragma("journal_mode = WAL");
  // FULL: a transaction acknowledged to a client survives a crash of the process or the machine.
  database.pragma("synchronous = FULL");
  database.pragma("busy_timeout = 5000");
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}

function openPostgres(url: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw new Error(`database migration ${failed ?? ""} failed: ${(error as Error).message ?? error}`);
  }
}

/** Opens the database `url` names (a `postgres://` URL or a SQLite path) and brings its schema up to date. */
export async function openStore(url: string): Promise<OpenedStore> {
  const engine = isPostgresUrl(url) ? "postgres" : "sqlite";
  const db = engine === "postgres" ? openPostgres(url) : openSqlite(url);
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { store: new KyselyStore(db, () => db.destroy()), db, engine };
}
