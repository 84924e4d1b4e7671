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
