import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createHarness, type Harness } from "./support/harness.js";

let h: Harness;
let lines: Record<string, unknown>[] = [];
before(async () => {
  const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
  h = await createHarness({}, { level: "info", stream });
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
  const events = () => lines.filter((line) => line.event).map((line) => [line.level, line.event]);
  lines = [];
  try {
    for (let probe = 0; probe < 3; probe++) {
      const away = await h.app.inject({ method: "GET", url: "/readyz" });
      assert.equal(away.statusCode, 503);
      assert.deepEqual(away.json(), { status: "unavailable" });
      assert.equal(away.headers["retry-after"], "5");
    }
    assert.equal((await h.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "alive all the same");
    assert.deepEqual(events(), [[40, "not_ready"]], "the outage is logged once, at warn, however often it is probed");
    assert.match(JSON.stringify(lines), /ECONNREFUSED/, "with the reason");
  } finally {
    store.ping = ping;
  }
  lines = [];
  for (let probe = 0; probe < 2; probe++) {
    assert.equal((await h.app.inject({ method: "GET", url: "/readyz" })).statusCode, 200);
  }
  assert.deepEqual(events(), [[30, "ready_again"]], "and its end once, at info");
});
