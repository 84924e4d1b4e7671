import { type Kysely, type MigrationResultSet, Migrator, sql } from "kysely";
import { MIGRATION_NAMES, migrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";
import { underSqliteWriteLock } from "./sqlite.js";

export type Engine = "sqlite" | "postgres";

/**
 * The schema unqualified table names resolve to (`public` unless the connection sets search_path).
 * Kysely's migrator looks for its bookkeeping tables in every schema unless it is told which one.
 */
async function currentSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error("the PostgreSQL search_path names no existing schema");
  return schema;
}

/**
 * Brings the schema up to `target` (default: the latest migration) and returns the names of the
 * migrations it applied. Safe when several processes do it at once: on PostgreSQL Kysely's
 * migrator holds an advisory lock while it reads and applies the history; on SQLite the whole
 * run is one write transaction.
 */
export async function migrateDatabase(db: Kysely<Database>, engine: Engine, target?: string): Promise<string[]> {
  const run = (migrator: Migrator) => (target ? migrator.migrateTo(target) : migrator.migrateToLatest());
  const provider = migrationProvider;
  if (engine === "sqlite") {
    return underSqliteWriteLock(db, async () => check(await run(new Migrator({ db, provider }))));
  }
  const migrationTableSchema = await currentSchema(db);
  for (let attempt = 1; ; attempt++) {
    const result = await run(new Migrator({ db, provider, migrationTableSchema }));
    if (attempt < 5 && isCatalogRace(result.error)) continue;
    return check(result);
  }
}

/**
 * Kysely's migrator looks for its tables by introspecting every schema in the database; a schema,
 * table or column dropped by someone else at that moment makes the query fail (a dropped column
 * fails its `pg_get_serial_sequence` call with 42703). Every migration runs in a transaction, so
 * nothing was applied then and the run can start again.
 */
const CATALOG_RACE_CODES = new Set(["3F000", "42P01", "42703", "XX000"]);

function isCatalogRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && CATALOG_RACE_CODES.has(code);
}

function check({ error, results }: MigrationResultSet): string[] {
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw new Error(`database migration ${failed ?? ""} failed: ${(error as Error).message ?? error}`);
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/**
 * The migrations in the database's history that this build does not know: a newer build's, which
 * has migrated the database during a rolling upgrade. Migrations keep what an older build reads
 * and writes working (see migrations.ts), so this build runs on that schema as it is, and does not
 * migrate it; Kysely's migrator would refuse to start at all. A history that also lacks one of this
 * build's own migrations comes from another line of builds: refused.
 */
export async function migrationsAhead(db: Kysely<Database>, engine: Engine): Promise<string[]> {
  const table =
    engine === "sqlite"
      ? sql`select 1 from sqlite_master where type = 'table' and name = 'kysely_migration'`
      : sql`select 1 where to_regclass('kysely_migration') is not null`;
  if ((await table.execute(db)).rows.length === 0) return [];
  const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  const executed = new Set(rows.map((row) => row.name));
  const ahead = [...executed].filter((name) => !MIGRATION_NAMES.includes(name)).sort();
  const missing = MIGRATION_NAMES.filter((name) => !executed.has(name));
  if (ahead.length > 0 && missing.length > 0) {
    throw new Error(
      `database migration failed: the database has migrations this build does not know (${ahead.join(", ")}) ` +
        `and lacks some of its own (${missing.join(", ")})`,
    );
  }
  return ahead;
}
