/**
 * `node dist/bench/checks/pg-prepared.js POSTGRES_URL [LOOKUPS]`: what named prepared statements
 * (KEYWARD_PG_PREPARE) save PostgreSQL. In a schema of its own, the check stores 1000 tokens, then
 * looks them up LOOKUPS times, 50 at a time, through keyward's store with statements named and
 * unnamed, twice each. Where PostgreSQL runs on this machine (Linux), its processes' CPU is read
 * from /proc and reported per lookup.
 */
import { orderedToken } from "../../src/core/crypto.js";
import { openStore } from "../../src/store/open.js";
import { DEFAULT_POOL_SETTINGS } from "../../src/store/pool-settings.js";
import { createTestSchema } from "../../test/support/postgres.js";
import { costOf } from "./postgres-cpu.js";
import { checkGrant, checkToken } from "./records.js";

const CONCURRENCY = 50;
const TOKENS = 1000;
const url = process.argv[2];
const lookups = Number(process.argv[3] ?? 20_000);
if (!url) throw new Error("usage: node dist/bench/checks/pg-prepared.js POSTGRES_URL [LOOKUPS]");

async function fill(schemaUrl: string): Promise<string[]> {
  const { store } = await openStore(schemaUrl);
  try {
    const now = Date.now();
    const grant = checkGrant(now);
    await store.createGrant(grant);
    const records = Array.from({ length: TOKENS }, () => checkToken(grant, orderedToken(now), "access", now));
    await store.transaction((tx) => tx.saveTokens(records));
    return records.map((record) => record.hash);
  } finally {
    await store.close();
  }
}

async function measure(schemaUrl: string, preparedStatements: boolean, keys: string[]): Promise<void> {
  const { store } = await openStore(schemaUrl, { pool: { ...DEFAULT_POOL_SETTINGS, preparedStatements } });
  try {
    let next = 0;
    const cost = await costOf(lookups, "per lookup", async () => {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < lookups) {
            if (!(await store.findToken(keys[next++ % keys.length] ?? "")))
              throw new Error("a stored token was not found");
          }
        }),
      );
    });
    console.log(
      `${preparedStatements ? "named  " : "unnamed"} ${cost.perSecond} lookups/s, ${cost.keyward}, ${cost.postgres}`,
    );
  } finally {
    await store.close();
  }
}

const schema = await createTestSchema(url, "keyward_check");
try {
  const keys = await fill(schema.url);
  for (const preparedStatements of [false, true, false, true]) await measure(schema.url, preparedStatements, keys);
} finally {
  await schema.drop();
}
