import { type Kysely, type Migration, type MigrationProvider, SqliteAdapter, sql } from "kysely";

/**
 * The one migration history for both engines. Append new migrations; never edit a released one.
 * A migration keeps what an older build reads and writes working (it adds tables, indexes and
 * columns that are nullable or have defaults, drops only indexes, rewrites data in place): an older
 * build runs on the schema a newer one migrated during a rolling upgrade (see migrationsAhead).
 * Types are chosen to mean the same on both: `bigint` holds epoch milliseconds, `integer` 0/1 flags.
 */
const migrations: Record<string, Migration> = {
  "0001_initial": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("clients")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("secret_hash", "text", (c) => c.notNull())
        .addColumn("redirect_uris", "text", (c) => c.notNull())
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("users")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("email", "text", (c) => c.notNull().unique())
        .addColumn("password_hash", "text", (c) => c.notNull())
        .addColumn("display_name", "text", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("consents")
        .addColumn("client_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("consents_pk", ["client_id", "user_id"])
        .execute();
      await db.schema
        .createTable("grants")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("client_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("revoked_at", "bigint")
        .execute();
      await db.schema.createIndex("grants_client_user").on("grants").columns(["client_id", "user_id"]).execute();
      await db.schema
        .createTable("authorization_codes")
        .addColumn("hash", "text", (c) => c.primaryKey())
        .addColumn("grant_id", "text", (c) => c.notNull())
        .addColumn("client_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("redirect_uri", "text", (c) => c.notNull())
        .addColumn("redirect_uri_explicit", "integer", (c) => c.notNull())
        .addColumn("code_challenge", "text")
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("consumed_at", "bigint")
        .execute();
      await db.schema
        .createIndex("authorization_codes_client_user")
        .on("authorization_codes")
        .columns(["client_id", "user_id"])
        .execute();
      await db.schema
        .createTable("tokens")
        .addColumn("hash", "text", (c) => c.primaryKey())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("jti", "text", (c) => c.notNull())
        .addColumn("grant_id", "text", (c) => c.notNull())
        .addColumn("client_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("consumed_at", "bigint")
        .execute();
      await db.schema.createIndex("tokens_grant").on("tokens").column("grant_id").execute();
      await db.schema.createIndex("tokens_expires").on("tokens").column("expires_at").execute();
      await db.schema
        .createTable("signing_keys")
        .addColumn("kid", "text", (c) => c.primaryKey())
        .addColumn("alg", "text", (c) => c.notNull())
        .addColumn("public_jwk", "text", (c) => c.notNull())
        .addColumn("private_jwk_encrypted", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("retired_at", "bigint")
        .addColumn("publish_until", "bigint")
        .execute();
      await db.schema
        .createTable("sessions")
        .addColumn("hash", "text", (c) => c.primaryKey())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  "0002_scale_out": {
    async up(db: Kysely<unknown>) {
      // Instances starting at once on an empty database could each create a first key; keep the newest current.
      await sql`
        update signing_keys set retired_at = created_at
        where retired_at is null and kid <> (
          select kid from signing_keys where retired_at is null order by created_at desc, kid desc limit 1
        )`.execute(db);
      await db.schema
        .createIndex("signing_keys_one_current")
        .on("signing_keys")
        .unique()
        .expression(sql`(retired_at is null)`)
        .where(sql.ref("retired_at"), "is", null)
        .execute();
      await db.schema.createIndex("authorization_codes_grant").on("authorization_codes").column("grant_id").execute();
      await db.schema
        .createIndex("authorization_codes_expires")
        .on("authorization_codes")
        .column("expires_at")
        .execute();
      await db.schema.createIndex("sessions_expires").on("sessions").column("expires_at").execute();
    },
  },
  "0003_clustered_tables": {
    async up(db: Kysely<unknown>) {
      // PostgreSQL's tables and primary-key indexes stay as they are.
      if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return;
      for (const table of CLUSTERED_TABLES) await clusterByPrimaryKey(db, table);
    },
  },
  "0004_live_grants_by_user": {
    async up(db: Kysely<unknown>) {
      // Revoking a refresh token revokes the user's live lineages with the client: with revoked_at
      // in the index, that update reaches the live ones without reading the revoked ones.
      await db.schema.dropIndex("grants_client_user").execute();
      await db.schema
        .createIndex("grants_client_user_revoked")
        .on("grants")
        .columns(["client_id", "user_id", "revoked_at"])
        .execute();
    },
  },
  "0005_secret_check": {
    async up(db: Kysely<unknown>) {
      // One row: a keyed hash that tells whether a process holds the secret the data was made with.
      await db.schema
        .createTable("secret_check")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("value", "text", (c) => c.notNull())
        .execute();
    },
  },
  "0006_grants_by_user_without_revoked_at": {
    async up(db: Kysely<unknown>) {
      // Back to 0001's index. With revoked_at in it, every revocation moved the grant's entry in
      // the index as well as its row: the benchmark's revocations ran at 9,100 req/s with it and
      // 13,100 without. Revoking a user's lineages now also reads their revoked ones, which the
      // pruner deletes once nothing is left in them.
      await db.schema.dropIndex("grants_client_user_revoked").execute();
      await db.schema.createIndex("grants_client_user").on("grants").columns(["client_id", "user_id"]).execute();
    },
  },
  "0007_codes_by_user_then_client": {
    async up(db: Kysely<unknown>) {
      // Redeeming a code names its hash and its client. On PostgreSQL a prepared statement's generic
      // plan, made while the table had no statistics, costed this index (client first) the same as
      // the primary key and could take it: every redemption then read all of the client's codes
      // (3.7-4.4 ms each at 3,000-5,200 codes). With the user first, the client alone cannot use it.
      await db.schema.dropIndex("authorization_codes_client_user").execute();
      await db.schema
        .createIndex("authorization_codes_user_client")
        .on("authorization_codes")
        .columns(["user_id", "client_id"])
        .execute();
    },
  },
  "0008_previous_client_secret": {
    async up(db: Kysely<unknown>) {
      // A rotation may keep the replaced secret working for a while, so that an integration can
      // deploy its new secret without a moment in which neither works.
      await db.schema.alterTable("clients").addColumn("previous_secret_hash", "text").execute();
      await db.schema.alterTable("clients").addColumn("previous_secret_expires_at", "bigint").execute();
    },
  },
  "0009_sessions_by_user": {
    async up(db: Kysely<unknown>) {
      // Ending a user's sessions (a new password, a sign-out everywhere, the user's deletion) finds
      // them by user; without this index each of those read every session of every user.
      await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();
    },
  },
  "0010_refresh_successor": {
    async up(db: Kysely<unknown>) {
      // A rotated refresh token names the refresh token that replaced it, so that a client retrying
      // a rotation whose answer it lost can be answered again (KEYWARD_REFRESH_GRACE). Nullable and
      // without a default, the column is added without rewriting the table, on both engines.
      await db.schema.alterTable("tokens").addColumn("successor", "text").execute();
    },
  },
  "0011_webhook_keys": {
    async up(db: Kysely<unknown>) {
      // The keys that sign webhook notifications (Canva's `/v1/connect/keys`), as signing_keys
      // keeps the token keys. A table of their own: an older instance still running during a
      // rolling upgrade reads signing_keys alone, and would take a newer webhook key for its own.
      await db.schema
        .createTable("webhook_keys")
        .addColumn("kid", "text", (c) => c.primaryKey())
        .addColumn("alg", "text", (c) => c.notNull())
        .addColumn("public_jwk", "text", (c) => c.notNull())
        .addColumn("private_jwk_encrypted", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("retired_at", "bigint")
        .addColumn("publish_until", "bigint")
        .execute();
      await db.schema
        .createIndex("webhook_keys_one_current")
        .on("webhook_keys")
        .unique()
        .expression(sql`(retired_at is null)`)
        .where(sql.ref("retired_at"), "is", null)
        .execute();
    },
  },
};

/**
 * The tables whose rows are small and read or changed by primary key on the hot path: a token's
 * lookup joins its grant, revocation updates the grant and deletes the consent, every client
 * authentication reads the client. Tokens, codes and sessions stay as they are: their rows are
 * larger, and updating a row of a clustered table rewrites it in its key's tree, which made
 * refresh rotation slower when tried.
 */
const CLUSTERED_TABLES = ["clients", "users", "consents", "grants"];

/**
 * Rebuilds a SQLite table as `WITHOUT ROWID`, so its rows live in the primary key's own B-tree. An
 * ordinary table keeps rows under a hidden integer rowid and its primary key in a separate index:
 * every lookup by key descends two trees, and every insert writes both. The new table is made from
 * the old one's own `create table` text, so its columns and constraints stay exactly as they were;
 * its indexes are made again from their own text.
 */
async function clusterByPrimaryKey(db: Kysely<unknown>, table: string): Promise<void> {
  const { rows } = await sql<{ type: string; sql: string }>`
    select type, sql from sqlite_master where tbl_name = ${table} and sql is not null`.execute(db);
  const create = rows.find((row) => row.type === "table")?.sql;
  if (create === undefined) throw new Error(`no table ${table} to rebuild`);
  if (/\bwithout\s+rowid\s*$/i.test(create)) return;
  const rebuilt = `${table}_rebuilt`;
  const opening = /^create\s+table\s+("[^"]+"|\w+)/i;
  if (!opening.test(create)) throw new Error(`unexpected definition of ${table}: ${create}`);
  await sql.raw(`${create.replace(opening, `create table "${rebuilt}"`)} without rowid`).execute(db);
  await sql`insert into ${sql.table(rebuilt)} select * from ${sql.table(table)}`.execute(db);
  await sql`drop table ${sql.table(table)}`.execute(db);
  await sql`alter table ${sql.table(rebuilt)} rename to ${sql.table(table)}`.execute(db);
  for (const row of rows) if (row.type === "index") await sql.raw(row.sql).execute(db);
}

/** This build's migrations, in the order they run. */
export const MIGRATION_NAMES: readonly string[] = Object.keys(migrations).sort();

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
