import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../src/config.js";
import { startServer } from "../src/server.js";
import { openStore } from "../src/store/open.js";
import { BatchSize } from "../src/store/prune.js";
import type { Store } from "../src/store/types.js";
import { runCliAsync } from "./support/cli-async.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";
import { tempDatabase } from "./support/server-process.js";
import { deploymentEnv } from "./support/shared-database.js";
import { grantRecord, sessionRecord, storeSession, tokenRecord } from "./support/store-records.js";

interface Place {
  url: string;
  remove(): Promise<void>;
}

const ENGINES = [
  {
    engine: "sqlite",
    skip: false as const,
    place: async (): Promise<Place> => {
      const url = tempDatabase();
      return { url, remove: async () => rmSync(dirname(url), { recursive: true, force: true }) };
    },
  },
  {
    engine: "postgres",
    skip: PG_SKIP,
    place: async (): Promise<Place> => {
      const schema = await createTestSchema();
      return { url: schema.url, remove: schema.drop };
    },
  },
];

/** An expired refresh token and session next to live ones; returns their hashes. */
async function seed(store: Store, now: number) {
  const grant = grantRecord({ createdAt: now });
  await store.createGrant(grant);
  const expired = tokenRecord(grant, { createdAt: now - 7200_000, expiresAt: now - 1000 });
  const live = tokenRecord(grant, { expiresAt: now + 3600_000 });
  await store.saveTokens([expired, live]);
  const oldSession = sessionRecord({ expiresAt: now - 1000 });
  await storeSession(store, oldSession);
  return { expired: expired.hash, live: live.hash, session: oldSession.hash };
}

for (const { engine, skip, place } of ENGINES) {
  describe(`Pruning (${engine})`, { skip }, () => {
    test("keyward prune deletes what has expired and reports it", async () => {
      const target = await place();
      try {
        const { store } = await openStore(target.url);
        const hashes = await seed(store, Date.now());
        const run = await runCliAsync(["prune", "--json"], deploymentEnv(target.url));
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(JSON.parse(run.stdout), {
          authorization_codes: 0,
          tokens: 1,
          sessions: 1,
          grants: 0,
          signing_keys: 0,
        });
        assert.equal(await store.findToken(hashes.expired), undefined);
        assert.notEqual(await store.findToken(hashes.live), undefined);
        await store.close();
      } finally {
        await target.remove();
      }
    });

    test("the server prunes on its own timer", async () => {
      const target = await place();
      const server = await startServer(
        loadConfig(deploymentEnv(target.url, { PORT: "0", LOG_LEVEL: "warn", KEYWARD_PRUNE_INTERVAL: "1" })),
      );
      try {
        const store = server.runtime.core.store;
        const hashes = await seed(store, Date.now());
        const deadline = Date.now() + 5000;
        while ((await store.findToken(hashes.expired)) !== undefined) {
          assert.ok(Date.now() < deadline, "the expired token was not pruned within 5 s");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(await store.findSession(hashes.session, 0), undefined);
        assert.notEqual(await store.findToken(hashes.live), undefined);
      } finally {
        await server.stop();
        await target.remove();
      }
    });
  });
}

describe("the rows a prune statement takes", () => {
  test("on SQLite, halve after a slow statement, down to 10, and double back after quick ones, up to the setting", () => {
    const size = new BatchSize(500, true);
    size.took(21);
    assert.equal(size.current, 250);
    for (let i = 0; i < 10; i++) size.took(100);
    assert.equal(size.current, 10);
    size.took(10);
    assert.equal(size.current, 10, "between a quarter of 20 ms and 20 ms it stays");
    size.took(4);
    assert.equal(size.current, 20);
    for (let i = 0; i < 10; i++) size.took(1);
    assert.equal(size.current, 500);
    const small = new BatchSize(3, true);
    small.took(50);
    assert.equal(small.current, 3, "a setting under 10 is never raised");
    // Where statements do not hold the event loop (PostgreSQL), their time is mostly the round trip.
    const fixed = new BatchSize(500, false, 100);
    assert.equal(fixed.current, 500);
    fixed.took(1000);
    assert.equal(fixed.current, 500);
  });
});
