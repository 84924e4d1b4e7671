import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { ServerKeys } from "../src/core/crypto.js";
import { KeyRing } from "../src/core/signing-keys.js";
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
        const kids = new Set(rings.map((ring) => ring.current().kid));
        assert.equal(kids.size, 1);
        assert.equal((await opened[0]?.store.listSigningKeys(now))?.length, 1);
      } finally {
        await Promise.all(opened.map(({ store }) => store.close()));
        await target.remove();
      }
    });
  });
}
