import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { Redis } from "ioredis";
import { ConfigError } from "../src/config.js";
import { RedisRateLimiter } from "../src/store/redis-rate-limiter.js";
import { authorize, codeFrom, sessionCookie } from "./support/cal-flow.js";
import { createHarness, FORM, form, type Harness } from "./support/harness.js";
import { authorizeUrl, InjectBrowser } from "./support/inject-browser.js";
import { freePort, runCli, startServerProcess, tempDatabase } from "./support/server-process.js";
import { TcpProxy } from "./support/tcp-proxy.js";

const REDIS_URL = process.env.KEYWARD_TEST_REDIS_URL;

async function refresh(h: Harness, basic: string, token = "unknown") {
  return h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/token",
    headers: { ...FORM, authorization: basic },
    payload: form({ grant_type: "refresh_token", refresh_token: token }),
  });
}

describe("rate limits in memory", () => {
  test("per client: 429 too_many_requests with Retry-After, in Canva's shape", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_CLIENT: "3" });
    try {
      const client = await h.createClient();
      for (let i = 0; i < 3; i++) assert.equal((await refresh(h, client.basic)).statusCode, 400);
      const limited = await refresh(h, client.basic);
      assert.equal(limited.statusCode, 429);
      assert.deepEqual(limited.json(), {
        code: "too_many_requests",
        message: "Too many refresh_token requests",
        error: "too_many_requests",
        error_description: "Too many refresh_token requests",
      });
      assert.ok(Number(limited.headers["retry-after"]) >= 1);
      const unknownGrant = await h.app.inject({
        method: "POST",
        url: "/rest/v1/oauth/token",
        headers: { ...FORM, authorization: client.basic },
        payload: form({ grant_type: "x".repeat(2000) }),
      });
      assert.equal(unknownGrant.statusCode, 429);
      assert.equal(
        unknownGrant.json().message,
        "Too many token requests",
        "a grant type it does not know is not echoed",
      );
      const other = await h.createClient();
      assert.equal((await refresh(h, other.basic)).statusCode, 400, "another client has its own budget");
    } finally {
      await h.close();
    }
  });

  test("per address, counted before authentication", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_ADDRESS: "2" });
    try {
      const wrong = `Basic ${Buffer.from("OC-x:cnvcawrong").toString("base64")}`;
      assert.equal((await refresh(h, wrong)).statusCode, 401);
      assert.equal((await refresh(h, wrong)).statusCode, 401);
      const limited = await refresh(h, wrong);
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().code, "too_many_requests");
      const introspect = await h.app.inject({
        method: "POST",
        url: "/rest/v1/oauth/introspect",
        headers: { ...FORM, authorization: wrong },
        payload: form({ token: "x" }),
      });
      assert.equal(introspect.statusCode, 401, "each endpoint has its own counter");
    } finally {
      await h.close();
    }
  });

  test("introspection has its own, larger per-client budget", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_CLIENT: "1", KEYWARD_RATE_INTROSPECT_PER_CLIENT: "2" });
    try {
      const client = await h.createClient();
      const call = () =>
        h.app.inject({
          method: "POST",
          url: "/rest/v1/oauth/introspect",
          headers: { ...FORM, authorization: client.basic },
          payload: form({ token: "x" }),
        });
      assert.equal((await call()).statusCode, 200);
      assert.equal((await call()).statusCode, 200);
      const limited = await call();
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().message, "Too many introspect requests");
    } finally {
      await h.close();
    }
  });

  test("behind a trusted proxy, the forwarded address is the one counted", async () => {
    for (const [trust, expected] of [
      ["true", 401],
      ["", 429],
    ] as const) {
      const h = await createHarness({ KEYWARD_RATE_PER_ADDRESS: "1", KEYWARD_TRUST_PROXY: trust });
      try {
        const call = (forwardedFor: string) => wrongSecretFrom(h, forwardedFor);
        assert.equal((await call("203.0.113.1")).statusCode, 401);
        assert.equal((await call("203.0.113.2")).statusCode, expected, `KEYWARD_TRUST_PROXY=${trust}`);
      } finally {
        await h.close();
      }
    }
  });

  test("an IPv6 client counts as its /64 network; IPv4 addresses, mapped or not, count alone", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_ADDRESS: "1", KEYWARD_TRUST_PROXY: "true" });
    try {
      const call = (forwardedFor: string) => wrongSecretFrom(h, forwardedFor);
      assert.equal((await call("2001:db8:0:1::1")).statusCode, 401);
      assert.equal((await call("2001:db8:0:1:ffff::22")).statusCode, 429, "same /64, another address");
      assert.equal((await call("2001:0db8:0000:0001::9")).statusCode, 429, "same /64, written out");
      assert.equal((await call("2001:db8:0:2::1")).statusCode, 401, "the next /64");
      assert.equal((await call("198.51.100.1")).statusCode, 401);
      assert.equal((await call("::ffff:198.51.100.1")).statusCode, 429, "the same IPv4 address, mapped");
      assert.equal((await call("198.51.100.2")).statusCode, 401, "the next IPv4 address");
    } finally {
      await h.close();
    }
  });

  test("the authorization page issues codes no faster than the per-client limit, per user", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_CLIENT: "2" });
    try {
      const client = await h.createClient();
      const [ada, bob] = [await h.createUser(), await h.createUser()];
      const browser = new InjectBrowser(h);
      const url = authorizeUrl(client.clientId);
      assert.equal((await browser.authorize(url, ada)).statusCode, 303, "consent: the first code");
      assert.equal((await browser.get(url)).statusCode, 302, "remembered consent: the second");
      const refused = await browser.get(url);
      assert.equal(refused.statusCode, 429);
      assert.ok(Number(refused.headers["retry-after"]) >= 1);
      assert.match(String(refused.headers["content-type"]), /^text\/html/);
      assert.equal(refused.headers["x-frame-options"], "DENY");
      assert.match(refused.body, /Too many authorizations for this app/);
      // Another user of the same client has a count of their own.
      assert.equal((await new InjectBrowser(h).authorize(url, bob)).statusCode, 303);
    } finally {
      await h.close();
    }
  });

  test("0 turns a limit off", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_CLIENT: "0", KEYWARD_RATE_PER_ADDRESS: "0" });
    try {
      const client = await h.createClient();
      for (let i = 0; i < 20; i++) assert.equal((await refresh(h, client.basic)).statusCode, 400);
    } finally {
      await h.close();
    }
  });
});

describe("rate limits in the Cal.com dialect", () => {
  test("refresh and exchange answer 429 ThrottlerException with Retry-After", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_CLIENT: "2" });
    try {
      const client = await h.createClient();
      const refresh = () =>
        h.app.inject({
          method: "POST",
          url: `/v2/oauth/${client.clientId}/refresh`,
          headers: { "content-type": "application/json", "x-cal-secret-key": client.clientSecret },
          payload: JSON.stringify({ refreshToken: "unknown" }),
        });
      assert.equal((await refresh()).statusCode, 400);
      assert.equal((await refresh()).statusCode, 400);
      const limited = await refresh();
      assert.equal(limited.statusCode, 429);
      const body = limited.json();
      assert.equal(body.status, "error");
      assert.equal(body.error.code, "ThrottlerException");
      assert.equal(body.error.message, "Too many requests. Please try again later.");
      assert.ok(Number(limited.headers["retry-after"]) >= 1);

      const user = await h.createUser();
      const cookie = await sessionCookie(h, user);
      const code = codeFrom(await authorize(h, client.clientId, { cookie }));
      const exchange = () =>
        h.app.inject({
          method: "POST",
          url: `/v2/oauth/${client.clientId}/exchange`,
          headers: { "content-type": "application/json", authorization: `Bearer ${code}` },
          payload: JSON.stringify({ clientSecret: client.clientSecret }),
        });
      assert.equal((await exchange()).statusCode, 200);
      assert.equal((await exchange()).statusCode, 400);
      assert.equal((await exchange()).json().error.code, "ThrottlerException");
    } finally {
      await h.close();
    }
  });

  test("authorize is limited per address", async () => {
    const h = await createHarness({ KEYWARD_RATE_PER_ADDRESS: "1" });
    try {
      const client = await h.createClient();
      assert.equal((await authorize(h, client.clientId)).statusCode, 401);
      const limited = await authorize(h, client.clientId);
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().error.code, "ThrottlerException");
    } finally {
      await h.close();
    }
  });
});

describe("rate limits with Redis unreachable", () => {
  test("count in this process, without each request waiting on Redis", async () => {
    const limiter = new RedisRateLimiter("redis://127.0.0.1:1", "keyward-test:");
    try {
      await limiter.connected(200);
      const started = performance.now();
      for (let i = 0; i < 3; i++)
        assert.equal((await limiter.consume("k", 3, 60_000)).allowed, true, `request ${i + 1}`);
      const refused = await limiter.consume("k", 3, 60_000);
      assert.equal(refused.allowed, false);
      assert.ok(refused.retryAfterMs > 0);
      assert.equal((await limiter.check("k", 3, 60_000)).allowed, false);
      assert.equal((await limiter.consume("other", 3, 60_000)).allowed, true, "another key has its own budget");
      await limiter.release("k", 60_000);
      assert.equal((await limiter.consume("k", 3, 60_000)).allowed, true, "a released count is taken back");
      // A queued command waited out its 500 ms timeout: 20 of them took over 10 s.
      assert.ok(performance.now() - started < 500, `${performance.now() - started} ms`);
    } finally {
      await limiter.close();
    }
  });

  test("closing does not wait on a connection that is already down", () => {
    const module = new URL("../src/store/redis-rate-limiter.js", import.meta.url).href;
    const script = `
      const { RedisRateLimiter } = await import(${JSON.stringify(module)});
      const limiter = new RedisRateLimiter("redis://127.0.0.1:1", "keyward-test:");
      await limiter.connected(200);
      globalThis.closing = performance.now();
      await limiter.close();
      process.on("exit", () => console.log(Math.round(performance.now() - globalThis.closing)));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    // ioredis's default waits 2000 ms for a close that never comes.
    assert.ok(Number(run.stdout) < 1000, `exited ${run.stdout.trim()} ms after close`);
  });

  test("sign-in failures still lock an account", async () => {
    const h = await createHarness({ REDIS_URL: "redis://127.0.0.1:1", KEYWARD_SIGNIN_FAILURES_PER_ACCOUNT: "2" });
    try {
      const throttle = h.runtime.signInThrottle;
      assert.equal(await throttle.attempt("victim@example.com", "10.2.2.1"), undefined);
      assert.equal(await throttle.attempt("victim@example.com", "10.2.2.2"), undefined);
      assert.ok(await throttle.attempt("victim@example.com", "10.2.2.3"));
    } finally {
      await h.close();
    }
  });
});

describe("rate limits shared through Redis", { skip: REDIS_URL ? false : "KEYWARD_TEST_REDIS_URL is not set" }, () => {
  test("two instances share one budget", async () => {
    const env = {
      DATABASE_URL: tempDatabase(),
      KEYWARD_SECRET: randomBytes(32).toString("hex"),
      REDIS_URL: REDIS_URL ?? "",
      KEYWARD_REDIS_PREFIX: `keyward-test:${randomBytes(6).toString("hex")}:`,
      KEYWARD_RATE_PER_CLIENT: "4",
    };
    const created = runCli(
      [
        "clients",
        "create",
        "--name",
        "Shared",
        "--redirect-uri",
        "https://a.example/cb",
        "--scope",
        "profile:read",
        "--json",
      ],
      env,
    );
    assert.equal(created.status, 0, created.stderr);
    const { client_id, client_secret } = JSON.parse(created.stdout);
    const basic = `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString("base64")}`;
    const [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const server = i % 2 === 0 ? a : b;
        const res = await fetch(`${server.url}/rest/v1/oauth/token`, {
          method: "POST",
          headers: { ...FORM, authorization: basic },
          body: form({ grant_type: "refresh_token", refresh_token: "unknown" }),
        }).catch((error: Error) => {
          throw new Error(
            `request ${i + 1} failed (${String(error.cause ?? error)}); server said:\n${server.output()}`,
          );
        });
        statuses.push(res.status);
        if (res.status === 429) {
          assert.equal(((await res.json()) as { code: string }).code, "too_many_requests");
          assert.ok(res.headers.get("retry-after"));
        }
      }
      assert.deepEqual(statuses, [400, 400, 400, 400, 429, 429]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test("sign-in failures counted on one instance lock the account on the other", async () => {
    const prefix = `keyward-test:${randomBytes(6).toString("hex")}:`;
    const shared = {
      REDIS_URL: REDIS_URL ?? "",
      KEYWARD_REDIS_PREFIX: prefix,
      KEYWARD_SIGNIN_FAILURES_PER_ACCOUNT: "2",
    };
    const first = await createHarness(shared);
    const second = await createHarness(shared);
    try {
      const throttleA = first.runtime.signInThrottle;
      const throttleB = second.runtime.signInThrottle;
      assert.equal(await throttleA.attempt("victim@example.com", "10.1.1.1"), undefined);
      assert.equal(await throttleA.attempt("victim@example.com", "10.1.1.2"), undefined);
      assert.equal((await throttleB.attempt("victim@example.com", "10.1.1.3"))?.firstInWindow, true);
      // The first refusal is shared too, so only one instance reports it.
      assert.equal((await throttleA.attempt("victim@example.com", "10.1.1.3"))?.firstInWindow, false);
      assert.equal(await throttleB.attempt("someone-else@example.com", "10.1.1.3"), undefined);
      // A success on one instance takes its attempt back for both.
      assert.equal(await throttleA.attempt("owner@example.com", "10.1.1.4"), undefined);
      assert.equal(await throttleA.attempt("owner@example.com", "10.1.1.4"), undefined);
      await throttleB.succeeded("owner@example.com", "10.1.1.4");
      assert.equal(await throttleB.attempt("owner@example.com", "10.1.1.5"), undefined);
      assert.ok(await throttleA.attempt("owner@example.com", "10.1.1.6"));
    } finally {
      await first.close();
      await second.close();
    }
  });
  test("admin API failures counted on one instance lock the address out on the other", async () => {
    const shared = {
      REDIS_URL: REDIS_URL ?? "",
      KEYWARD_REDIS_PREFIX: `keyward-test:${randomBytes(6).toString("hex")}:`,
      KEYWARD_ADMIN_FAILURES_PER_ADDRESS: "2",
    };
    const first = await createHarness(shared);
    const second = await createHarness(shared);
    try {
      const [throttleA, throttleB] = [first.runtime.adminThrottle, second.runtime.adminThrottle];
      await throttleA.failed("10.3.3.3");
      await throttleB.failed("10.3.3.3");
      assert.equal((await throttleA.refusal("10.3.3.3"))?.firstInWindow, true);
      assert.equal((await throttleB.refusal("10.3.3.3"))?.firstInWindow, false, "one instance reports it");
      assert.equal(await throttleB.refusal("10.3.3.4"), undefined);
    } finally {
      await first.close();
      await second.close();
    }
  });

  test("a Redis that still reads but refuses writes is not announced as back", async () => {
    const admin = new Redis(REDIS_URL ?? "");
    const user = `keyward-test-${randomBytes(6).toString("hex")}`;
    // Writes refused as at maxmemory under noeviction, without filling the shared Redis.
    await admin.call("ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-incr");
    const url = new URL(REDIS_URL ?? "");
    url.username = user;
    url.password = "pw";
    let now = Date.now();
    const lost: Error[] = [];
    let restored = 0;
    const limiter = new RedisRateLimiter(
      url.href,
      `keyward-test:${randomBytes(6).toString("hex")}:`,
      { lost: (e) => lost.push(e), restored: () => restored++ },
      () => now,
    );
    try {
      await limiter.connected(2000);
      assert.equal((await limiter.consume("k", 5, 60_000)).allowed, true, "counted in memory");
      assert.equal(lost.length, 1);
      now += 6000;
      assert.equal((await limiter.check("k", 5, 60_000)).allowed, true);
      assert.equal((await limiter.consume("over", 0, 60_000)).allowed, false, "over its limit: read, nothing written");
      assert.equal((await limiter.consume("k", 5, 60_000)).allowed, true);
      assert.equal(restored, 0, "a read that works does not show that counting does");
      assert.equal(lost.length, 1);
    } finally {
      await limiter.close();
      await admin.call("ACL", "DELUSER", user);
      admin.disconnect();
    }
  });

  test("a REDIS_URL database Redis does not have: the start fails saying so, and nothing goes to database 0", async () => {
    const url = new URL(REDIS_URL ?? "");
    url.pathname = "/9999";
    const prefix = `keyward-test:${randomBytes(6).toString("hex")}:`;
    const refused = await createHarness({ REDIS_URL: url.href, KEYWARD_REDIS_PREFIX: prefix }).then(
      (h) => h.close(),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ConfigError, `the start failed: ${refused}`);
    assert.match(refused.message, /^Redis refused the database REDIS_URL names \(ERR DB index is out of range\)/);
    // Reached later (Redis was down at the start), it is refused the same way and counts alone.
    const lost: Error[] = [];
    const limiter = new RedisRateLimiter(url.href, prefix, { lost: (e) => lost.push(e), restored: () => {} });
    try {
      await limiter.connected(2000);
      assert.equal((await limiter.consume("k", 1, 60_000)).allowed, true);
      assert.equal((await limiter.consume("k", 1, 60_000)).allowed, false, "counted in memory");
      assert.match(lost[0]?.message ?? "", /Redis refused the database/);
    } finally {
      await limiter.close();
    }
    const databaseZero = new URL(REDIS_URL ?? "");
    databaseZero.pathname = "/0";
    const admin = new Redis(databaseZero.href);
    try {
      const [, written] = await admin.scan(0, "MATCH", `${prefix}*`, "COUNT", 100_000);
      assert.deepEqual(written, [], "nothing in database 0");
    } finally {
      admin.disconnect();
    }
  });

  test("while Redis is cut off an instance counts alone, and shares again once it is back", async () => {
    const target = new URL(REDIS_URL ?? "");
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379), await freePort());
    await proxy.open();
    const prefix = `keyward-test:${randomBytes(6).toString("hex")}:`;
    const hour = 3_600_000;
    // One window for the whole test, however long it takes; advanced past Redis's rest after the cut.
    let now = Math.floor(Date.now() / hour) * hour + 1000;
    const warnings: Error[] = [];
    let restored = 0;
    // The same Redis, database included, through the proxy.
    const throughProxy = new URL(REDIS_URL ?? "");
    throughProxy.host = `127.0.0.1:${proxy.port}`;
    const cutOff = new RedisRateLimiter(
      throughProxy.href,
      prefix,
      { lost: (e) => warnings.push(e), restored: () => restored++ },
      () => now,
    );
    const other = new RedisRateLimiter(REDIS_URL ?? "", prefix, undefined, () => now);
    try {
      await Promise.all([cutOff.connected(2000), other.connected(2000)]);
      assert.equal((await cutOff.consume("k", 3, hour)).allowed, true);
      assert.equal((await other.consume("k", 3, hour)).allowed, true);

      await proxy.cut();
      for (let i = 0; i < 3; i++) assert.equal((await cutOff.consume("k", 3, hour)).allowed, true, `alone ${i + 1}`);
      assert.equal((await cutOff.consume("k", 3, hour)).allowed, false, "the limit holds for the instance alone");
      assert.ok(warnings.length >= 1, "the outage was reported");
      assert.equal((await other.consume("k", 3, hour)).allowed, true, "Redis counted two, not the cut-off ones");
      assert.equal((await other.consume("k", 3, hour)).allowed, false);

      await proxy.open();
      now += 6000;
      await cutOff.connected(5000);
      assert.equal((await other.consume("fresh", 1, hour)).allowed, true);
      assert.equal((await cutOff.consume("fresh", 1, hour)).allowed, false, "back on the shared count");
      assert.equal(restored, 0, "a refusal writes nothing, so it shows only that Redis reads");
      assert.equal((await cutOff.consume("another", 1, hour)).allowed, true);
      assert.equal(restored, 1, "a count written: it says so, once");
      assert.equal((await cutOff.consume("fresh", 1, hour)).allowed, false);
      assert.equal(restored, 1);
    } finally {
      await Promise.all([cutOff.close(), other.close()]);
      await proxy.cut();
    }
  });
});

/** A token request with a wrong secret, forwarded for the given address. */
function wrongSecretFrom(h: Harness, forwardedFor: string) {
  return h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/token",
    headers: {
      ...FORM,
      authorization: `Basic ${Buffer.from("OC-x:cnvcawrong").toString("base64")}`,
      "x-forwarded-for": forwardedFor,
    },
    payload: form({ grant_type: "refresh_token", refresh_token: "x" }),
  });
}

test("a server whose Redis does not answer says so once, in its JSON log, and still serves", {
  timeout: 30_000,
}, async () => {
  const unused = await freePort();
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), REDIS_URL: `redis://127.0.0.1:${unused}` });
  try {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const warnings = server
      .output()
      .split("\n")
      .filter((line) => line.includes("counted by this process alone"));
    assert.equal(warnings.length, 1, server.output());
    const logged = JSON.parse(warnings[0] ?? "");
    assert.equal(logged.level, 40);
    assert.match(logged.err.message, /ECONNREFUSED/);
  } finally {
    await server.stop();
  }
});
