import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { createClientWithCli, createUserWithCli } from "./support/browserless.js";
import { consentedJar, type LoadTarget, newLedger, runLoad, verifyLedger } from "./support/load.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";
import { startServerProcess, tempDatabase } from "./support/server-process.js";

const KILLS = Number(process.env.KEYWARD_CRASH_KILLS ?? 3);
const LOAD_MS = 1500;
const REDIRECT_URI = "https://client.example/callback";
const SCOPE = "profile:read";

/** Rows that only a half-applied transaction could leave behind. */
const HALF_APPLIED = {
  consumedRefreshWithoutSuccessor: `select count(*) as n from tokens t where t.kind = 'refresh' and t.consumed_at is not null
    and not exists (select 1 from tokens s where s.grant_id = t.grant_id and s.kind = 'refresh' and s.hash <> t.hash and s.created_at >= t.consumed_at)`,
  redeemedCodeWithoutTokens: `select count(*) as n from authorization_codes c where c.consumed_at is not null
    and not exists (select 1 from tokens t where t.grant_id = c.grant_id)`,
  tokenWithoutLineage:
    "select count(*) as n from tokens t where not exists (select 1 from grants g where g.id = t.grant_id)",
};

async function survivesKills(env: Record<string, string>, countHalfApplied: (sql: string) => Promise<number>) {
  const client = createClientWithCli(env, { name: "Crash", redirectUris: [REDIRECT_URI], scope: SCOPE });
  const user = createUserWithCli(env, {
    email: `crash-${randomBytes(4).toString("hex")}@example.com`,
    password: "long enough pw",
  });
  let server = await startServerProcess(env);
  const jar = await consentedJar(server.url, client.clientId, REDIRECT_URI, SCOPE, user);
  const ledger = newLedger();
  const figures: string[] = [];
  try {
    for (let kill = 1; kill <= KILLS; kill++) {
      const target: LoadTarget = {
        url: server.url,
        clientId: client.clientId,
        basic: client.basic,
        redirectUri: REDIRECT_URI,
        jar,
        scope: SCOPE,
      };
      let stopped = false;
      const load = runLoad(target, ledger, { concurrency: 16, stop: () => stopped });
      await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
      await server.stop("SIGKILL");
      stopped = true;
      await load;

      server = await startServerProcess({ ...env, PORT: new URL(server.url).port });
      const { checked, wrong } = await verifyLedger({ ...target, url: server.url }, ledger);
      assert.deepEqual(wrong, [], `after kill ${kill}`);
      for (const [name, sql] of Object.entries(HALF_APPLIED)) {
        assert.equal(await countHalfApplied(sql), 0, `${name} after kill ${kill}`);
      }
      figures.push(`kill ${kill}: ${checked} tokens checked`);
    }
    assert.deepEqual(ledger.unexpected, []);
    assert.ok(ledger.live.size > 0 && ledger.dead.size > 0, "the load issued, rotated and revoked tokens");
    console.log(
      `${KILLS} kills survived; ${figures.join(", ")}; ${ledger.requests} requests; ${ledger.uncertain.size} tokens in flight at a kill`,
    );
  } finally {
    await server.stop("SIGKILL");
  }
}

const baseEnv = () => ({
  KEYWARD_SECRET: randomBytes(32).toString("hex"),
  KEYWARD_RATE_PER_CLIENT: "0",
  KEYWARD_RATE_PER_ADDRESS: "0",
  LOG_LEVEL: "warn",
});

describe("crash durability: SIGKILL under concurrent load", () => {
  test("SQLite: every acknowledged token and revocation survives, nothing half-applied", async () => {
    const file = tempDatabase();
    await survivesKills({ ...baseEnv(), DATABASE_URL: file }, async (sql) => {
      const db = new Database(file, { readonly: true });
      try {
        return Number((db.prepare(sql).get() as { n: number }).n);
      } finally {
        db.close();
      }
    });
  });

  test("PostgreSQL: every acknowledged token and revocation survives, nothing half-applied", {
    skip: PG_SKIP,
  }, async () => {
    const schema = await createTestSchema();
    try {
      await survivesKills({ ...baseEnv(), DATABASE_URL: schema.url }, async (sql) => {
        const db = new pg.Client({ connectionString: schema.url });
        await db.connect();
        try {
          return Number((await db.query(sql)).rows[0].n);
        } finally {
          await db.end();
        }
      });
    } finally {
      await schema.drop();
    }
  });
});
