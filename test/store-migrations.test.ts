import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import SQLite from "better-sqlite3";
import { type Kysely, sql } from "kysely";
import { migrateDatabase } from "../src/store/migrate.js";
import { connectDatabase, type OpenedStore, openStore } from "../src/store/open.js";
import type { Database } from "../src/store/schema.js";
import { NEW_FILE_PAGE_SIZE, PAGE_CACHE_KIB } from "../src/store/sqlite.js";
import { runCliAsync } from "./support/cli-async.js";
import { TEST_SECRET } from "./support/harness.js";
import { adminQuery, createTestSchema, PG_SKIP } from "./support/postgres.js";
import { tempDatabase } from "./support/server-process.js";
import {
  clientRecord,
  codeRecord,
  grantRecord,
  NOW,
  sessionRecord,
  signingKeyRecord,
  tokenRecord,
  userRecord,
} from "./support/store-records.js";

const ALL = [
  "0001_initial",
  "0002_scale_out",
  "0003_clustered_tables",
  "0004_live_grants_by_user",
  "0005_secret_check",
  "0006_grants_by_user_without_revoked_at",
  "0007_codes_by_user_then_client",
  "0008_previous_client_secret",
  "0009_sessions_by_user",
  "0010_refresh_successor",
  "0011_webhook_keys",
];

interface Place {
  url: string;
  remove(): Promise<void>;
}

async function sqlitePlace(): Promise<Place> {
  const url = tempDatabase();
  return { url, remove: async () => rmSync(dirname(url), { recursive: true, force: true }) };
}

/** Opens a store on a new SQLite file, runs `work` on it, then closes it and removes the file. */
async function onNewSqliteStore(work: (opened: OpenedStore) => Promise<void>): Promise<void> {
  const target = await sqlitePlace();
  try {
    const opened = await openStore(target.url);
    try {
      await work(opened);
    } finally {
      await opened.store.close();
    }
  } finally {
    await target.remove();
  }
}

async function postgresPlace(): Promise<Place> {
  const schema = await createTestSchema();
  return { url: schema.url, remove: schema.drop };
}

const client = clientRecord();
const user = userRecord();
const grant = grantRecord({ clientId: client.id, userId: user.id });
const code = codeRecord(grant, { consumedAt: NOW });
const refresh = tokenRecord(grant, { expiresAt: NOW + 86400_000 });
const session = sessionRecord({ userId: user.id });
const olderKey = signingKeyRecord({ createdAt: NOW });
const newerKey = signingKeyRecord({ createdAt: NOW + 1 });

/** Rows as the previous release (schema 0001) wrote them, including two keys both current. */
async function fillReleaseOneDatabase(db: Kysely<Database>): Promise<void> {
  await db
    .insertInto("clients")
    .values({
      id: client.id,
      name: client.name,
      secret_hash: client.secretHash,
      redirect_uris: JSON.stringify(client.redirectUris),
      scopes: client.scopes.join(" "),
      created_at: client.createdAt,
      updated_at: client.updatedAt,
    })
    .execute();
  await db
    .insertInto("users")
    .values({
      id: user.id,
      email: user.email,
      password_hash: user.passwordHash,
      display_name: user.displayName,
      team_id: user.teamId,
      created_at: user.createdAt,
    })
    .execute();
  await db
    .insertInto("consents")
    .values({ client_id: client.id, user_id: user.id, scopes: "profile:read", updated_at: NOW })
    .execute();
  await db
    .insertInto("grants")
    .values({
      id: grant.id,
      client_id: client.id,
      user_id: user.id,
      scopes: "profile:read",
      created_at: NOW,
      revoked_at: null,
    })
    .execute();
  await db
    .insertInto("authorization_codes")
    .values({
      hash: code.hash,
      grant_id: grant.id,
      client_id: client.id,
      user_id: user.id,
      redirect_uri: code.redirectUri,
      redirect_uri_explicit: 1,
      code_challenge: code.codeChallenge,
      scopes: "profile:read",
      created_at: NOW,
      expires_at: code.expiresAt,
      consumed_at: NOW,
    })
    .execute();
  await db
    .insertInto("tokens")
    .values({
      hash: refresh.hash,
      kind: "refresh",
      jti: refresh.jti,
      grant_id: grant.id,
      client_id: client.id,
      user_id: user.id,
      scopes: "profile:read",
      created_at: NOW,
      expires_at: refresh.expiresAt,
      consumed_at: null,
    })
    .execute();
  await db
    .insertInto("sessions")
    .values({ hash: session.hash, user_id: user.id, created_at: NOW, expires_at: session.expiresAt })
    .execute();
  for (const key of [olderKey, newerKey]) {
    await db
      .insertInto("signing_keys")
      .values({
        kid: key.kid,
        alg: key.alg,
        public_jwk: key.publicJwk,
        private_jwk_encrypted: key.privateJwkEncrypted,
        created_at: key.createdAt,
        retired_at: null,
        publish_until: null,
      })
      .execute();
  }
}

const ENGINES = [
  { engine: "sqlite", place: sqlitePlace, skip: false as const },
  { engine: "postgres", place: postgresPlace, skip: PG_SKIP },
];

for (const { engine, place, skip } of ENGINES) {
  describe(`Migrations (${engine})`, { skip }, () => {
    test("an empty database gets every migration once", async () => {
      const target = await place();
      try {
        const first = await openStore(target.url);
        assert.deepEqual(first.migrationsApplied, ALL);
        await first.store.close();
        const again = await openStore(target.url);
        assert.deepEqual(again.migrationsApplied, []);
        await again.store.close();
      } finally {
        await target.remove();
      }
    });

    test("a database a newer build migrated is run on as it is; one from another line of builds is refused", async () => {
      const target = await place();
      try {
        await (await openStore(target.url)).store.close();
        const raw = await connectDatabase(target.url);
        await sql`insert into kysely_migration (name, timestamp) values ('9999_from_a_newer_build', '2026-12-07T00:00:00.000Z')`.execute(
          raw.db,
        );
        await raw.close();
        const newer = await openStore(target.url);
        try {
          assert.deepEqual(newer.migrationsApplied, []);
          assert.deepEqual(newer.migrationsAheadOfBuild, ["9999_from_a_newer_build"]);
          await newer.store.createClient(client);
          assert.deepEqual(await newer.store.getClient(client.id), client);
        } finally {
          await newer.store.close();
        }
        const other = await connectDatabase(target.url);
        await sql`delete from kysely_migration where name = ${ALL.at(-1)}`.execute(other.db);
        await other.close();
        await assert.rejects(
          openStore(target.url),
          /does not know \(9999_from_a_newer_build\) and lacks some of its own/,
        );
      } finally {
        await target.remove();
      }
    });

    test("a database of the previous release (0001 with data) upgrades without losing anything", async () => {
      const target = await place();
      try {
        const old = await connectDatabase(target.url);
        assert.deepEqual(await migrateDatabase(old.db, old.engine, "0001_initial"), ["0001_initial"]);
        await fillReleaseOneDatabase(old.db);
        // close(), not db.destroy(): on SQLite it also stops the WAL checkpoint thread, whose own
        // connection would otherwise keep files in the directory the test then removes.
        await old.close();

        const { store, migrationsApplied } = await openStore(target.url);
        try {
          assert.deepEqual(migrationsApplied, ALL.slice(1));
          assert.deepEqual(await store.getClient(client.id), client);
          assert.deepEqual(await store.getUserById(user.id), user);
          assert.deepEqual((await store.getConsent(client.id, user.id))?.scopes, ["profile:read"]);
          assert.deepEqual(await store.findSession(session.hash, NOW), session);
          assert.deepEqual(await store.findToken(refresh.hash), { ...refresh, grantRevokedAt: null });
          assert.equal((await store.redeemAuthorizationCode(code.hash, client.id, NOW)).status, "reused");
          assert.deepEqual(await store.listSigningKeys(NOW + 2), [
            newerKey,
            { ...olderKey, retiredAt: olderKey.createdAt },
          ]);
          assert.equal((await store.consumeRefreshToken(refresh.hash, client.id, NOW)).status, "consumed");
        } finally {
          await store.close();
        }
      } finally {
        await target.remove();
      }
    });

    test("processes migrating one database at once apply each migration exactly once", async () => {
      const target = await place();
      try {
        const runs = await Promise.all(
          Array.from({ length: 6 }, () =>
            runCliAsync(["migrate"], { DATABASE_URL: target.url, KEYWARD_SECRET: TEST_SECRET }),
          ),
        );
        for (const run of runs) assert.equal(run.status, 0, run.stderr);
        const applied = runs.flatMap((run) => run.stdout.split("\n").filter((line) => line.startsWith("applied")));
        assert.deepEqual(
          applied.sort(),
          ALL.map((name) => `applied migration ${name}`),
        );
        const { store, migrationsApplied } = await openStore(target.url);
        assert.deepEqual(migrationsApplied, []);
        await store.close();
      } finally {
        await target.remove();
      }
    });
  });
}

/** Each table's definition, and its indexes' names, as SQLite keeps them. */
async function sqliteLayout(db: Kysely<Database>) {
  const { rows } = await sql<{ type: string; name: string; tbl_name: string; sql: string | null }>`
    select type, name, tbl_name, sql from sqlite_master
    where type in ('table', 'index') and tbl_name not like 'kysely%' order by name`.execute(db);
  const tables = new Map(rows.filter((row) => row.type === "table").map((row) => [row.name, row.sql ?? ""]));
  const indexes = rows.filter((row) => row.type === "index").map((row) => `${row.tbl_name}.${row.name}`);
  return { tables, indexes };
}

describe("Clustered tables (sqlite)", () => {
  test("0003 keeps the rows of four tables in their primary keys, with the same columns, constraints and indexes", async () => {
    const target = await sqlitePlace();
    try {
      const old = await connectDatabase(target.url);
      try {
        await migrateDatabase(old.db, old.engine, "0002_scale_out");
        const before = await sqliteLayout(old.db);
        await migrateDatabase(old.db, old.engine, "0003_clustered_tables");
        const after = await sqliteLayout(old.db);

        assert.deepEqual([...after.tables.keys()], [...before.tables.keys()]);
        const columnsOf = (definition = "") => definition.slice(definition.indexOf("("));
        for (const [name, definition] of after.tables) {
          const expected = columnsOf(before.tables.get(name));
          const clustered = ["clients", "users", "consents", "grants"].includes(name);
          assert.equal(columnsOf(definition), clustered ? `${expected} without rowid` : expected, name);
        }
        // A clustered table needs no separate index for its primary key; every other index is back.
        const secondary = (names: string[]) => names.filter((name) => !name.includes("sqlite_autoindex"));
        assert.deepEqual(secondary(after.indexes), secondary(before.indexes));
        assert.ok(secondary(after.indexes).includes("signing_keys.signing_keys_one_current"));
        assert.ok(after.indexes.includes("users.sqlite_autoindex_users_2"), "the unique email keeps its index");
        assert.ok(!after.indexes.includes("grants.sqlite_autoindex_grants_1"), "grants needs no primary-key index");
        assert.ok(after.indexes.includes("tokens.sqlite_autoindex_tokens_1"), "tokens keeps its rowid");

        // The primary key and the other constraints still hold.
        const insertUser = (id: string, email: string) =>
          sql`insert into users values (${id}, ${email}, 'h', 'n', 't', 0)`.execute(old.db);
        await insertUser("u1", "a@example.com");
        await assert.rejects(insertUser("u1", "b@example.com"), /UNIQUE constraint failed: users.id/);
        await assert.rejects(insertUser("u2", "a@example.com"), /UNIQUE constraint failed: users.email/);
        // An ordinary table would have taken a null text key; a clustered one refuses it.
        await assert.rejects(
          sql`insert into grants values (null, 'c', 'u', 'profile:read', 0, null)`.execute(old.db),
          /NOT NULL constraint failed: grants.id/,
        );
      } finally {
        await old.close();
      }
    } finally {
      await target.remove();
    }
  });
});

describe("Grants by user (sqlite)", () => {
  test("revoking a user's lineages with a client reads that user's grants by index, and revocation leaves the index alone", async () => {
    const target = await sqlitePlace();
    try {
      const connected = await connectDatabase(target.url);
      try {
        await migrateDatabase(connected.db, connected.engine);
        const { indexes } = await sqliteLayout(connected.db);
        assert.ok(indexes.includes("grants.grants_client_user"));
        assert.ok(!indexes.some((index) => index.startsWith("grants.") && index.includes("revoked")));
        const { rows } = await sql<{ detail: string }>`
          explain query plan update grants set revoked_at = 1
          where client_id = 'c' and user_id = 'u' and revoked_at is null`.execute(connected.db);
        assert.match(
          rows.map((row) => row.detail).join("\n"),
          /USING INDEX grants_client_user \(client_id=\? AND user_id=\?\)/,
        );
      } finally {
        await connected.close();
      }
    } finally {
      await target.remove();
    }
  });
});

test("the serving connection keeps a page cache of PAGE_CACHE_KIB (sqlite)", () =>
  onNewSqliteStore(async ({ db }) => {
    const { rows } = await sql<{ cache_size: number }>`pragma cache_size`.execute(db);
    assert.equal(rows[0]?.cache_size, -PAGE_CACHE_KIB);
  }));

describe("Page size (sqlite)", () => {
  const pageSize = async (db: Kysely<Database>) =>
    (await sql<{ page_size: number }>`pragma page_size`.execute(db)).rows[0]?.page_size;

  test("a new file gets small pages, and rows longer than a page still round-trip", () =>
    onNewSqliteStore(async ({ store, db }) => {
      assert.equal(await pageSize(db), NEW_FILE_PAGE_SIZE);
      const redirectUris = Array.from({ length: 100 }, (_, i) => `https://example.com/callback/${i}`);
      const wide = clientRecord({ redirectUris });
      assert.ok(JSON.stringify(redirectUris).length > 2 * NEW_FILE_PAGE_SIZE, "the row spills over its page");
      await store.createClient(wide);
      assert.deepEqual((await store.getClient(wide.id))?.redirectUris, redirectUris);
    }));

  test("a file made with SQLite's default pages keeps them, and keyward works on it", async () => {
    const target = await sqlitePlace();
    try {
      const made = new SQLite(target.url);
      made.pragma("journal_mode = WAL");
      made.exec("create table made_before (id integer primary key)");
      made.close();
      const { store, db, migrationsApplied } = await openStore(target.url);
      try {
        assert.deepEqual(migrationsApplied, ALL);
        assert.equal(await pageSize(db), 4096);
        await store.createClient(client);
        assert.equal((await store.getClient(client.id))?.name, client.name);
      } finally {
        await store.close();
      }
    } finally {
      await target.remove();
    }
  });
});

describe("Migrations beside other schemas' DDL (postgres)", { skip: PG_SKIP }, () => {
  test("a migration run succeeds while another session adds and drops columns elsewhere", async () => {
    const busy = await createTestSchema();
    await adminQuery(`create table ${busy.name}.churn (id integer)`);
    let churning = true;
    const churn = (async () => {
      while (churning) {
        await adminQuery(`alter table ${busy.name}.churn add column extra text`);
        await adminQuery(`alter table ${busy.name}.churn drop column extra`);
      }
    })();
    try {
      for (let run = 0; run < 15; run++) {
        const target = await createTestSchema();
        try {
          const connected = await connectDatabase(target.url);
          try {
            assert.deepEqual(await migrateDatabase(connected.db, "postgres"), ALL);
          } finally {
            await connected.close();
          }
        } finally {
          await target.drop();
        }
      }
    } finally {
      churning = false;
      await churn;
      await busy.drop();
    }
  });
});
