import type { Kysely } from "kysely";
import { isPostgresUrl } from "../config.js";
import { KyselyStore } from "./kysely-store.js";
import { type Engine, migrateDatabase } from "./migrate.js";
import { DEFAULT_POOL_SETTINGS, openPostgres, type PoolSettings } from "./postgres.js";
import type { Database } from "./schema.js";
import { openSqlite } from "./sqlite.js";
import type { Store } from "./types.js";

export interface ConnectedDatabase {
  db: Kysely<Database>;
  engine: Engine;
  /** Receives errors of idle PostgreSQL connections (the pool replaces them); nothing by default. */
  onConnectionError(listener: (error: Error) => void): void;
}

export interface OpenedStore extends ConnectedDatabase {
  store: Store;
  /** Migrations this open applied, oldest first. */
  migrationsApplied: string[];
}

export interface StoreOptions {
  pool?: PoolSettings;
}

/** Connects to the database `url` names (a `postgres://` URL or a SQLite path) without touching its schema. */
export function connectDatabase(url: string, options: StoreOptions = {}): ConnectedDatabase {
  let listener: (error: Error) => void = () => {};
  const engine: Engine = isPostgresUrl(url) ? "postgres" : "sqlite";
  const db =
    engine === "postgres"
      ? openPostgres(url, options.pool ?? DEFAULT_POOL_SETTINGS, (error) => listener(error))
      : openSqlite(url);
  return {
    db,
    engine,
    onConnectionError(next) {
      listener = next;
    },
  };
}

/** Connects and brings the schema up to date. */
export async function openStore(url: string, options: StoreOptions = {}): Promise<OpenedStore> {
  const connected = connectDatabase(url, options);
  const { db, engine } = connected;
  let migrationsApplied: string[];
  try {
    migrationsApplied = await migrateDatabase(db, engine);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { ...connected, store: new KyselyStore(db, () => db.destroy()), migrationsApplied };
}
