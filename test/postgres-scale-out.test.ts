import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeProtectedHeader } from "jose";
import { migrationProvider } from "../src/store/migrations.js";
import { adminQuery, createTestSchema, PG_SKIP, type TestSchema } from "./support/postgres.js";
import { runCli, type ServerProcess, startServerProcess } from "./support/server-process.js";
import {
  canvaPost,
  deploymentEnv,
  isActive,
  openSeeder,
  type Reply,
  redeem,
  refresh,
  type Seeder,
} from "./support/shared-database.js";

const CONCURRENCY = 50;
const KEY_RELOAD_SECONDS = 1;

/** Statuses and error codes of many replies, for one assertion that shows them all. */
function tally(replies: Reply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of replies) {
    const key = r.status === 200 ? "200" : `${r.status} ${String(r.body.error)}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

async function jwksKids(base: string, path = "/.well-known/jwks.json"): Promise<string[]> {
  const response = await fetch(`${base}${path}`);
  const { keys } = (await response.json()) as { keys: { kid: string }[] };
  return keys.map((k) => k.kid).sort();
}

describe("Two keyward instances on one PostgreSQL", { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  let instances: ServerProcess[] = [];
  let a: ServerProcess;
  let b: ServerProcess;
  let seeder: Seeder;

  before(async () => {
    schema = await createTestSchema();
    const env = deploymentEnv(schema.url, {
      KEYWARD_KEY_RELOAD: String(KEY_RELOAD_SECONDS),
      KEYWARD_PG_POOL_SIZE: "8",
    });
    // Three instances start at once on the empty schema: each migrates and looks for a signing key.
    instances = await Promise.all([1, 2, 3].map(() => startServerProcess(env)));
    [a, b] = instances as [ServerProcess, ServerProcess];
    seeder = await openSeeder(schema.url);
  });

  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await seeder?.close();
    await schema?.drop();
  });

  test("instances started at once apply each migration once and share one signing key", async () => {
    const { rows } = await adminQuery(`select name from ${schema.name}.kysely_migration order by name`);
    const every = Object.keys(await migrationProvider.getMigrations()).sort();
    assert.deepEqual(
      rows.map((r) => r.name),
      every,
    );
    const keys = await adminQuery(`select kid from ${schema.name}.signing_keys`);
    assert.equal(keys.rowCount, 1);
    const published = await Promise.all(instances.map((i) => jwksKids(i.url)));
    for (const kids of published) assert.deepEqual(kids, [keys.rows[0].kid]);
    const webhookKeys = await adminQuery(`select kid from ${schema.name}.webhook_keys`);
    assert.equal(webhookKeys.rowCount, 1);
    const webhookPublished = await Promise.all(instances.map((i) => jwksKids(i.url, "/rest/v1/connect/keys")));
    for (const kids of webhookPublished) assert.deepEqual(kids, [webhookKeys.rows[0].kid]);
    const third = instances[2];
    assert.equal(await third?.stop(), 0);
  });

  test("a token issued by one instance introspects, refreshes and revokes at the other", async () => {
    const issued = await redeem(a.url, seeder.client, await seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const access = String(issued.body.access_token);
    assert.equal(await isActive(b.url, seeder.client, access), true);

    const refreshed = await refresh(b.url, seeder.client, String(issued.body.refresh_token));
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(await isActive(a.url, seeder.client, String(refreshed.body.access_token)), true);
    const replay = await refresh(a.url, seeder.client, String(issued.body.refresh_token));
    assert.deepEqual([replay.status, replay.body.error], [400, "invalid_grant"]);

    const other = await redeem(b.url, seeder.client, await seeder.issueCode());
    const revoked = await canvaPost(a.url, "revoke", seeder.client, { token: String(other.body.refresh_token) });
    assert.equal(revoked.status, 200);
    assert.equal(await isActive(b.url, seeder.client, String(other.body.access_token)), false);
    assert.equal(await isActive(a.url, seeder.client, String(other.body.access_token)), false);
  });

  test(`${CONCURRENCY} concurrent refreshes of one token across both instances: exactly one succeeds`, async () => {
    const issued = await redeem(a.url, seeder.client, await seeder.issueCode());
    const token = String(issued.body.refresh_token);
    const replies = await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) => refresh(i % 2 ? a.url : b.url, seeder.client, token)),
    );
    assert.deepEqual(tally(replies), { "200": 1, "400 invalid_grant": CONCURRENCY - 1 });
  });

  test(`${CONCURRENCY} concurrent redemptions of one code across both instances: exactly one succeeds`, async () => {
    const code = await seeder.issueCode();
    const replies = await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) => redeem(i % 2 ? a.url : b.url, seeder.client, code)),
    );
    assert.deepEqual(tally(replies), { "200": 1, "400 invalid_grant": CONCURRENCY - 1 });
  });

  test("a key rotated from anywhere is published by every instance before any of them signs with it", async (t) => {
    const rotated = runCli(["keys", "rotate", "--json"], deploymentEnv(schema.url));
    assert.equal(rotated.status, 0, rotated.stderr);
    const kid = (JSON.parse(rotated.stdout) as { kid: string }).kid;
    const started = Date.now();
    for (const instance of [a, b]) {
      while (!(await jwksKids(instance.url)).includes(kid)) {
        assert.ok(Date.now() - started < KEY_RELOAD_SECONDS * 1000 + 3000, "the new key was not published in time");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    t.diagnostic(`new key published by both instances ${Date.now() - started} ms after rotation`);
    // Issued from the moment of rotation on, every token's key is one both instances publish.
    const signers = new Set<string>();
    for (const instance of [a, b]) {
      for (;;) {
        const issued = await redeem(instance.url, seeder.client, await seeder.issueCode());
        const signer = String(decodeProtectedHeader(String(issued.body.access_token)).kid);
        for (const other of [a, b]) assert.ok((await jwksKids(other.url)).includes(signer), signer);
        signers.add(signer);
        if (signer === kid) break;
        assert.ok(Date.now() - started < KEY_RELOAD_SECONDS * 1000 + 10_000, "the new key never signed");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    t.diagnostic(`signed by ${[...signers].join(", ")}; the new key signed ${Date.now() - started} ms after rotation`);
  });
});
