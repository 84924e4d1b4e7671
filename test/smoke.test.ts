import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createHarness, type Harness } from "./support/harness.js";

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

test("health check answers", async () => {
  const res = await h.app.inject({ method: "GET", url: "/healthz" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: "ok" });
});

test("readiness check answers while the database does, and 503 when it does not", async () => {
  const ready = await h.app.inject({ method: "GET", url: "/readyz" });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: "ok" });
  const { store } = h.runtime.core;
  const ping = store.ping;
  store.ping = () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
  try {
    const away = await h.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(away.statusCode, 503);
    assert.deepEqual(away.json(), { status: "unavailable" });
    assert.equal(away.headers["retry-after"], "5");
    assert.equal((await h.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "alive all the same");
  } finally {
    store.ping = ping;
  }
});
