import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";

// int8 columns hold epoch milliseconds, well inside a double's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Per process: with `--workers N` every worker has a pool of its own. */
export interface PoolSettings {
  size: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_POOL_SETTINGS: PoolSettings = { size: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 5_000 };

export function openPostgres(
  url: string,
  settings: PoolSettings,
  onConnectionError: (error: Error) => void,
): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.size,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    // A transaction left open (a stuck request) must not hold row locks for longer than a statement may run.
    idle_in_transaction_session_timeout: settings.statementTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle connection that breaks (the server restarted, the network dropped) is reported here;
  // without a listener the process would crash.
  pool.on("error", onConnectionError);
  // A connection that breaks while checked out between two queries emits 'error' on the client,
  // which the pool does not listen to then. The next query on it fails and is answered with 503.
  pool.on("connect", (client) => client.on("error", () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * The schema unqualified table names resolve to (`public` unless the connection sets search_path).
 * Kysely's migrator looks for its bookkeeping tables in every schema unless it is told which one.
 */
export async function currentSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error("the PostgreSQL search_path names no existing schema");
  return schema;
}
