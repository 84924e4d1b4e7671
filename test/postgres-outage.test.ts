import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestSchema, PG_SKIP, PG_URL, type TestSchema, withSearchPath } from "./support/postgres.js";
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

describe("PostgreSQL outage", { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  let proxy: TcpProxy;
  let server: ServerProcess;
  let seeder: Seeder;

  before(async () => {
    schema = await createTestSchema();
    const target = new URL(PG_URL ?? "");
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432), await freePort());
    await proxy.open();
    target.hostname = "127.0.0.1";
    target.port = String(proxy.port);
    server = await startServerProcess(
      deploymentEnv(withSearchPath(target.toString(), schema.name), {
        KEYWARD_PG_CONNECT_TIMEOUT: "1",
        KEYWARD_PG_POOL_SIZE: "4",
      }),
    );
    seeder = await openSeeder(schema.url);
  });

  after(async () => {
    await server?.stop();
    await proxy?.cut();
    await seeder?.close();
    await schema?.drop();
  });

  test("answers 503 in Canva's shape while the database is away, then resumes without losing anything", async (t) => {
    const issued = await redeem(server.url, seeder.client, await seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const accessToken = String(issued.body.access_token);
    const refreshToken = String(issued.body.refresh_token);
    const introspect = () => canvaPost(server.url, "introspect", seeder.client, { token: accessToken });
    assert.equal((await introspect()).body.active, true);

    await proxy.cut();
    // The pooled connections break while idle: reported, not fatal.
    await until("the lost connections to be logged", async () =>
      /database connection lost/.test(server.output()) ? true : undefined,
    );
    const during: Reply[] = [];
    for (let i = 0; i < 5; i++) {
      during.push(await introspect(), await refresh(server.url, seeder.client, refreshToken));
      during.push(await redeem(server.url, seeder.client, { code: "whatever", verifier: "x".repeat(43) }));
    }
    for (const reply of during) {
      assert.equal(reply.status, 503, JSON.stringify(reply.body));
      assert.deepEqual(reply.body, CANVA_UNAVAILABLE);
    }
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const readiness = await fetch(`${server.url}/readyz`);
    assert.equal(readiness.status, 503, "not ready while the database is away");
    assert.deepEqual(await readiness.json(), { status: "unavailable" });
    assert.equal(server.child.exitCode, null, "the process stays up");
    await proxy.open();
    const back = Date.now();
    const resumed = await until("service to resume", async () => {
      const reply = await introspect();
      return reply.status === 200 ? reply : undefined;
    });
    t.diagnostic(`service resumed ${Date.now() - back} ms after the database came back`);
    assert.equal(resumed.body.active, true, "a token issued before the outage is still active");
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, "ready again");
    const refreshed = await refresh(server.url, seeder.client, refreshToken);
    assert.equal(refreshed.status, 200, "the refresh token was not consumed by the failed attempts");
    assert.equal(server.child.exitCode, null);
  });
});
