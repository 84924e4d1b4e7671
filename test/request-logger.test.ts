import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { buildApp } from "../src/http/app.js";
import { lazyRequestLogger } from "../src/http/request-logger.js";
import { createHarness, FORM, form, type Harness } from "./support/harness.js";

let h: Harness;
let app: FastifyInstance;
const lines: Record<string, unknown>[] = [];

before(async () => {
  h = await createHarness();
  const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
  app = buildApp(h.runtime, { logger: { level: "info", stream } });
  await app.ready();
});

after(async () => {
  await app.close();
  await h.close();
});

const introspect = (authorization: string) =>
  app.inject({
    method: "POST",
    url: "/rest/v1/oauth/introspect",
    headers: { ...FORM, authorization },
    payload: form({ token: "unknown" }),
  });

test("a request's log lines carry its request id, and a request that logs nothing writes nothing", async () => {
  const client = await h.createClient();
  const quiet = await introspect(client.basic);
  assert.equal(quiet.statusCode, 200);
  assert.equal(lines.length, 0, JSON.stringify(lines));

  const store = h.runtime.core.store as unknown as Record<string, unknown>;
  const original = store.getClient;
  store.getClient = async () => {
    throw new Error("disk on fire");
  };
  try {
    const failed = await introspect(client.basic);
    assert.equal(failed.statusCode, 500);
    const logged = lines.find((line) => line.msg === "unexpected error");
    assert.ok(logged, "the failure is logged");
    assert.equal(logged.reqId, failed.headers["x-request-id"]);
    assert.equal(logged.level, 50);
    assert.match(JSON.stringify(logged.err), /disk on fire/);
  } finally {
    store.getClient = original;
  }
});

test("the request logger makes its pino child once, on first use, with the request's bindings and level", () => {
  const made: { bindings: unknown; options: unknown; messages: unknown[][] }[] = [];
  const parent = {
    level: "info",
    child(bindings: unknown, options: unknown) {
      const child = { bindings, options, messages: [] as unknown[][], level: "debug" };
      made.push(child);
      return { ...child, warn: (...args: unknown[]) => child.messages.push(args) } as unknown as FastifyBaseLogger;
    },
  } as unknown as FastifyBaseLogger;
  const logger = lazyRequestLogger(parent, { reqId: "r-1" }, { level: "debug" });
  assert.equal(logger.level, "debug");
  assert.equal(made.length, 0);
  logger.warn({ n: 1 }, "first");
  logger.warn("second");
  assert.equal(made.length, 1);
  assert.deepEqual(made[0]?.bindings, { reqId: "r-1" });
  assert.deepEqual(made[0]?.options, { level: "debug" });
  assert.deepEqual(made[0]?.messages, [[{ n: 1 }, "first"], ["second"]]);
});
