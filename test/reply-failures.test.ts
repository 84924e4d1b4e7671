import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { buildApp } from "../src/http/app.js";
import { createHarness, FORM, form, type Harness, type TestClient } from "./support/harness.js";

let h: Harness;
let client: TestClient;

before(async () => {
  h = await createHarness();
  client = await h.createClient();
});
after(() => h.close());

test("a reply Node refuses to write becomes a bare 500, and the server keeps serving", async () => {
  const app = buildApp(h.runtime, { logger: false });
  // No keyward route sets such a header any more; this one stands for the next mistake.
  app.get("/unwritable", (_request, reply) => reply.status(303).header("location", "/\u2603\r\n").send());
  await app.ready();
  try {
    const res = await app.inject({ method: "GET", url: "/unwritable" });
    assert.equal(res.statusCode, 500);
    assert.equal(res.body, "");
    assert.ok(res.headers["x-request-id"]);
    const next = await app.inject({ method: "GET", url: "/.well-known/jwks.json" });
    assert.equal(next.statusCode, 200);
  } finally {
    await app.close();
  }
});

test("a reply that fails on its way out fails alone: the others written in its turn still go", async () => {
  const app = buildApp(h.runtime, { logger: false });
  await app.ready();
  const metrics = h.runtime.metrics;
  const observe = metrics.observe;
  let calls = 0;
  metrics.observe = (...args) => {
    if (calls++ === 0) throw new Error("the first reply's bookkeeping fails");
    observe.apply(metrics, args);
  };
  try {
    const replies = await Promise.all([1, 2, 3].map(() => app.inject({ method: "GET", url: "/healthz" })));
    assert.deepEqual(
      replies.map((res) => res.statusCode),
      [500, 200, 200],
    );
    assert.equal(calls, 3, "one turn's replies");
  } finally {
    metrics.observe = observe;
    await app.close();
  }
});

test("when the disk keeps refusing to sync, each dialect still answers its own 500", async () => {
  const store = h.runtime.core.store as { flush: () => Promise<void> };
  store.flush = async () => {
    throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
  };
  try {
    const canva = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/introspect",
      headers: { ...FORM, authorization: client.basic },
      payload: form({ token: "no-such-token" }),
    });
    assert.equal(canva.statusCode, 500);
    assert.deepEqual(canva.json(), {
      code: "internal_error",
      message: "Internal error",
      error: "server_error",
      error_description: "Internal error",
    });
    assert.ok(canva.headers["x-request-id"]);

    const cal = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${client.clientId}/exchange`,
      headers: { "content-type": "application/json" },
      payload: { code: "x", clientSecret: "y", redirectUri: "https://client.example/callback" },
    });
    assert.equal(cal.statusCode, 500);
    assert.equal(cal.json().error.code, "InternalServerErrorException");
    assert.doesNotMatch(cal.body, /EIO|fdatasync/);
    assert.ok(cal.headers["x-request-id"]);

    const page = await h.app.inject({ method: "GET", url: "/login" });
    assert.equal(page.statusCode, 500);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.doesNotMatch(page.body, /EIO|fdatasync/);
  } finally {
    delete (store as { flush?: unknown }).flush;
  }
});
