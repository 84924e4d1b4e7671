import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { adminQuery, createTestSchema, PG_SKIP, PG_URL, type TestSchema, withSearchPath } from "./support/postgres.js";
import { freePort, type ServerProcess, startServerProcess } from "./support/server-process.js";
import {
  canvaPost,
  deploymentEnv,
  openSeeder,
  type Reply,
  redeem,
  refresh,
  type Seeder,
} from "./support/shared-database.js";
import { TcpProxy } from "./support/tcp-proxy.js";

const CANVA_UNAVAILABLE = {
  code: "service_unavailable",
  message: "The service is temporarily unavailable",
  error: "temporarily_unavailable",
  error_description: "The service is temporarily unavailable",
};

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A keyward server on a schema of its own, reaching PostgreSQL through a proxy the test can break. */
function serverBehindProxy(settings: Record<string, string>) {
  const at = {} as { schema: TestSchema; proxy: TcpProxy; server: ServerProcess; seeder: Seeder };
  before(async () => {
    at.schema = await createTestSchema();
    const target = new URL(PG_URL ?? "");
    at.proxy = new TcpProxy(target.hostname, Number(target.port || 5432), await freePort());
    await at.proxy.open();
    target.hostname = "127.0.0.1";
    target.port = String(at.proxy.port);
    at.server = await startServerProcess(deploymentEnv(withSearchPath(target.toString(), at.schema.name), settings));
    at.seeder = await openSeeder(at.schema.url);
  });
  after(async () => {
    await at.server?.stop();
    await at.proxy?.cut();
    await at.seeder?.close();
    await at.schema?.drop();
  });
  return at;
}

describe("PostgreSQL outage", { skip: PG_SKIP }, () => {
  const at = serverBehindProxy({ KEYWARD_PG_CONNECT_TIMEOUT: "1", KEYWARD_PG_POOL_SIZE: "4" });

  test("answers 503 in Canva's shape while the database is away, then resumes without losing anything", async (t) => {
    const issued = await redeem(at.server.url, at.seeder.client, await at.seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const accessToken = String(issued.body.access_token);
    const refreshToken = String(issued.body.refresh_token);
    const introspect = () => canvaPost(at.server.url, "introspect", at.seeder.client, { token: accessToken });
    assert.equal((await introspect()).body.active, true);

    await at.proxy.cut();
    // The pooled connections break while idle: reported, not fatal.
    await until("the lost connections to be logged", async () =>
      /database connection lost/.test(at.server.output()) ? true : undefined,
    );
    const during: Reply[] = [];
    for (let i = 0; i < 5; i++) {
      during.push(await introspect(), await refresh(at.server.url, at.seeder.client, refreshToken));
      during.push(await redeem(at.server.url, at.seeder.client, { code: "whatever", verifier: "x".repeat(43) }));
    }
    for (const reply of during) {
      assert.equal(reply.status, 503, JSON.stringify(reply.body));
      assert.deepEqual(reply.body, CANVA_UNAVAILABLE);
    }
    const health = await fetch(`${at.server.url}/healthz`);
    assert.equal(health.status, 200);
    const readiness = await fetch(`${at.server.url}/readyz`);
    assert.equal(readiness.status, 503, "not ready while the database is away");
    assert.deepEqual(await readiness.json(), { status: "unavailable" });
    assert.equal(at.server.child.exitCode, null, "the process stays up");
    await at.proxy.open();
    const back = Date.now();
    const resumed = await until("service to resume", async () => {
      const reply = await introspect();
      return reply.status === 200 ? reply : undefined;
    });
    t.diagnostic(`service resumed ${Date.now() - back} ms after the database came back`);
    assert.equal(resumed.body.active, true, "a token issued before the outage is still active");
    assert.equal((await fetch(`${at.server.url}/readyz`)).status, 200, "ready again");
    const refreshed = await refresh(at.server.url, at.seeder.client, refreshToken);
    assert.equal(refreshed.status, 200, "the refresh token was not consumed by the failed attempts");
    assert.equal(at.server.child.exitCode, null);
  });
});

describe("PostgreSQL connections that go silent", { skip: PG_SKIP }, () => {
  const at = serverBehindProxy({ KEYWARD_PG_STATEMENT_TIMEOUT: "1", KEYWARD_PG_POOL_SIZE: "2" });

  test("a query on a connection that stopped answering fails as unavailable, the pool replaces it, and shutdown is prompt", {
    timeout: 120_000,
  }, async (t) => {
    const issued = await redeem(at.server.url, at.seeder.client, await at.seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const introspect = () =>
      canvaPost(at.server.url, "introspect", at.seeder.client, { token: String(issued.body.access_token) });
    // Both pooled connections open, then silent: no answer, no reset.
    await Promise.all([introspect(), introspect(), introspect()]);
    at.proxy.freeze();
    const frozen = Date.now();
    const answers: number[] = [];
    for (;;) {
      const started = Date.now();
      const reply = await introspect();
      // statement_timeout (1 s) and the margin (5 s), with room for a slow machine.
      assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms`);
      answers.push(reply.status);
      if (reply.status === 200) break;
      assert.equal(reply.status, 503, JSON.stringify(reply.body));
      assert.deepEqual(reply.body, CANVA_UNAVAILABLE);
      assert.ok(answers.length <= 4, `still failing after ${answers.join(", ")}`);
    }
    t.diagnostic(`answers after the freeze: ${answers.join(", ")}, served again after ${Date.now() - frozen} ms`);
    assert.ok(answers.includes(503), "the silent connections were used, and given up on");
    assert.equal((await fetch(`${at.server.url}/readyz`)).status, 200);
    const stopping = Date.now();
    assert.equal(await at.server.stop(), 0);
    assert.ok(Date.now() - stopping < 15_000, "shutdown waited for no silent connection");
  });
});

describe("PostgreSQL answers lost after the commit", { skip: PG_SKIP }, () => {
  const at = serverBehindProxy({ KEYWARD_PG_POOL_SIZE: "1" });

  test("a refresh whose write committed before its connection broke is answered with its tokens, not a 503", async () => {
    const issued = await redeem(at.server.url, at.seeder.client, await at.seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    at.proxy.loseAnswerToNext('insert into "tokens"');
    const rotated = await refresh(at.server.url, at.seeder.client, String(issued.body.refresh_token));
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const introspected = await canvaPost(at.server.url, "introspect", at.seeder.client, {
      token: String(rotated.body.access_token),
    });
    assert.equal(introspected.body.active, true, "the tokens answered are the ones stored");
    const again = await refresh(at.server.url, at.seeder.client, String(rotated.body.refresh_token));
    assert.equal(again.status, 200, "the lineage lives on");
    assert.doesNotMatch(at.server.output(), /refresh_token_reused/);
  });
});

describe("PostgreSQL cancelling a statement", { skip: PG_SKIP }, () => {
  const at = serverBehindProxy({ KEYWARD_PG_STATEMENT_TIMEOUT: "1" });

  test("a refresh whose write hit the statement timeout is answered 503 after that one timeout, and its token still works", async () => {
    const issued = await redeem(at.server.url, at.seeder.client, await at.seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const locker = new pg.Client({ connectionString: at.schema.url });
    await locker.connect();
    try {
      // Writes to tokens wait (reads go on).
      await locker.query("begin");
      await locker.query("lock table tokens in exclusive mode");
      const started = Date.now();
      const answer = refresh(at.server.url, at.seeder.client, String(issued.body.refresh_token));
      // Once the refresh's write waits for the lock on tokens (its reads are done), reads of grants wait too.
      await until("the refresh's write to wait for its lock", async () => {
        // Not on the locker's connection: inside its transaction pg_stat_activity would stay as first read.
        const { rows } = await adminQuery(
          "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%insert into \"tokens\"%' and datname = current_database()",
        );
        return rows.length > 0 ? true : undefined;
      });
      await locker.query("lock table grants in access exclusive mode");
      const refused = await answer;
      const elapsedMs = Date.now() - started;
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.deepEqual(refused.body, CANVA_UNAVAILABLE);
      // One timeout (1 s), not a second one spent looking for tokens a cancelled statement never wrote.
      assert.ok(elapsedMs < 1800, `answered after ${elapsedMs} ms`);
    } finally {
      await locker.query("rollback");
      await locker.end();
    }
    const retried = await refresh(at.server.url, at.seeder.client, String(issued.body.refresh_token));
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
  });
});
