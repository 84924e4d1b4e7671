import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { PoolSettings } from "./pool-settings.js";
import { PreparingPool } from "./prepared-statements.js";
import { DeadlinePool, QUERY_DEADLINE_MARGIN_MS } from "./query-deadline.js";
import type { Database } from "./schema.js";

// int8 columns hold epoch milliseconds, well inside a double's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function openPostgres(
  url: string,
  settings: PoolSettings,
  onConnectionError: (error: Error) => void,
): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.size,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    idleTimeoutMillis: settings.idleTimeoutMs,
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
  const bounded = new DeadlinePool(pool, settings.statementTimeoutMs + QUERY_DEADLINE_MARGIN_MS);
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: settings.preparedStatements ? new PreparingPool(bounded) : bounded }),
  });
}
