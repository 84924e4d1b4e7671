import { type Kysely, type Migration, type MigrationProvider, sql } from "kysely";

/**
 * The one migration history for both engines. Append new migrations; never edit a released one.
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
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
