import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { ServerKeys } from "../src/core/crypto.js";
import { KeyRing, rotateSigningKey } from "../src/core/signing-keys.js";
import { openStore } from "../src/store/open.js";
import { TEST_SECRET } from "./support/harness.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";
import { tempDatabase } from "./support/server-process.js";

const ENGINES = [
  {
    engine: "sqlite",
    skip: false as const,
    place: async () => {
      const url = tempDatabase();
      return { url, remove: async () => rmSync(dirname(url), { recursive: true, force: true }) };
    },
  },
  {
    engine: "postgres",
    skip: PG_SKIP,
    place: async () => {
      const schema = await createTestSchema();
      return { url: schema.url, remove: schema.drop };
    },
  },
];

for (const { engine, skip, place } of ENGINES) {
  describe(`Signing keys on an empty database (${engine})`, { skip }, () => {
    test("instances loading at the same moment agree on one first key", async () => {
      const target = await place();
      const opened = await Promise.all([1, 2, 3].map(() => openStore(target.url)));
      try {
        const keys = new ServerKeys(TEST_SECRET);
        const rings = opened.map(({ store }) => new KeyRing(store, keys));
        const now = Date.now();
        await Promise.all(rings.map((ring) => ring.load(now)));
        const kids = new Set(rings.map((ring) => ring.current(now).kid));
        assert.equal(kids.size, 1);
        assert.equal((await opened[0]?.store.listSigningKeys(now))?.length, 1);
      } finally {
        await Promise.all(opened.map(({ store }) => store.close()));
        await target.remove();
      }
    });
  });
}

test("a rotated key signs only once every instance has had a reload to publish it; the one it replaced signs meanwhile", async () => {
  const url = tempDatabase();
  const { store } = await openStore(url);
  try {
    const keys = new ServerKeys(TEST_SECRET);
    const delay = 10_000;
    const ring = new KeyRing(store, keys, "tokens", delay);
    const t0 = Date.now();
    await ring.load(t0);
    const first = ring.current(t0).kid;
    const rotated = await rotateSigningKey(store, keys, t0 + 60_000, 3_600_000);
    await ring.load(t0 + 60_000);
    assert.equal(ring.current(t0 + 60_000).kid, first, "the new key is published, not yet signing");
    assert.deepEqual(new Set(ring.jwks().keys.map((key) => key.kid)), new Set([first, rotated.kid]));
    assert.equal(ring.current(t0 + 60_000 + delay - 1).kid, first);
    assert.equal(
      ring.current(t0 + 60_000 + delay).kid,
      rotated.kid,
      "a reload's time later, everywhere published: it signs, without waiting for this ring's next reload",
    );
    await ring.load(t0 + 60_000 + delay + 1);
    assert.equal(ring.current(t0 + 60_000 + delay + 1).kid, rotated.kid, "and the reload agrees");
    // A reload whose clock read before the switch (it began before, and read the keys meanwhile)
    // does not step back to the key replaced.
    await ring.load(t0 + 60_000 + delay - 1);
    assert.equal(ring.current(t0 + 60_000 + delay - 1).kid, rotated.kid, "signing never steps back");
    // A second rotation while one waits: each signs from its own time, without a reload between.
    const waiting = new KeyRing(store, keys, "tokens", delay);
    await waiting.load(t0 + 60_000 + delay);
    const second = await rotateSigningKey(store, keys, t0 + 70_000 + delay, 3_600_000);
    await waiting.load(t0 + 70_000 + delay);
    const third = await rotateSigningKey(store, keys, t0 + 71_000 + delay, 3_600_000);
    await waiting.load(t0 + 71_000 + delay);
    assert.equal(waiting.current(t0 + 70_000 + 2 * delay - 1).kid, rotated.kid);
    assert.equal(waiting.current(t0 + 70_000 + 2 * delay).kid, second.kid, "the second at its time");
    assert.equal(waiting.current(t0 + 71_000 + 2 * delay).kid, third.kid, "the third at its own");
    // A ring that first loads after the key may sign signs with it at once.
    const late = new KeyRing(store, keys, "tokens", delay);
    await late.load(t0 + 60_000 + delay);
    assert.equal(late.current(t0 + 60_000 + delay).kid, rotated.kid);
    // Without a delay (the CLI's rings), the newest key signs at once.
    const immediate = new KeyRing(store, keys);
    const again = await rotateSigningKey(store, keys, t0 + 120_000, 3_600_000);
    await immediate.load(t0 + 120_000);
    assert.equal(immediate.current(t0 + 120_000).kid, again.kid);
  } finally {
    await store.close();
    rmSync(dirname(url), { recursive: true, force: true });
  }
});
