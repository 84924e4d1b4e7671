/**
 * `node dist/bench/checks/pg-revocation.js POSTGRES_URL [USERS]`: what withdrawing a consent costs
 * on PostgreSQL as one statement (`revokeConsent`, a data-modifying CTE) against the transaction it
 * replaced (begin, revoke the user's lineages, delete the consent, commit). In a schema of its own,
 * the check stores a lineage and a consent for each of USERS users (default 20,000), then withdraws
 * them 50 at a time through keyward's store, a quarter of the users per pass, the two ways in
 * turn. Each pass checks that every lineage was counted and every consent is gone. Where
 * PostgreSQL runs on this machine (Linux), its processes' CPU is read from /proc.
 */

import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/types.js";
import { createTestSchema } from "../../test/support/postgres.js";
import { postgresCpuSeconds } from "./postgres-cpu.js";
import { checkGrant } from "./records.js";

const CONCURRENCY = 50;
const url = process.argv[2];
const users = Number(process.argv[3] ?? 20_000);
if (!url || !(users >= 4)) throw new Error("usage: node dist/bench/checks/pg-revocation.js POSTGRES_URL [USERS]");

type Withdraw = (store: Store, userId: string, now: number) => Promise<number>;

const WAYS: Record<string, Withdraw> = {
  transaction: (store, userId, now) =>
    store.transaction(async (tx) => {
      const revoked = await tx.revokeGrantsOf("OC-check", userId, now);
      await tx.deleteConsent("OC-check", userId);
      return revoked;
    }),
  "one statement": (store, userId, now) => store.revokeConsent("OC-check", userId, now),
};

const userId = (i: number) => `user-${i}`;

async function fill(store: Store): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < users; start += 1000) {
    await store.transaction(async (tx) => {
      for (let i = start; i < Math.min(start + 1000, users); i++) {
        await tx.createGrant({ ...checkGrant(now), userId: userId(i) });
        await tx.saveConsent({ clientId: "OC-check", userId: userId(i), scopes: ["profile:read"], updatedAt: now });
      }
    });
  }
}

async function measure(store: Store, way: string, from: number, to: number): Promise<void> {
  const withdraw = WAYS[way] as Withdraw;
  let next = from;
  let revoked = 0;
  const postgresBefore = postgresCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) {
        const count = await withdraw(store, userId(next++), Date.now());
        revoked += count;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const postgresAfter = postgresCpuSeconds();
  const count = to - from;
  if (revoked !== count) throw new Error(`${way}: ${revoked} lineages revoked for ${count} users`);
  for (const i of [from, to - 1]) {
    if (await store.getConsent("OC-check", userId(i))) throw new Error(`${way}: ${userId(i)}'s consent is still there`);
  }
  const postgres =
    postgresBefore === undefined || postgresAfter === undefined
      ? "PostgreSQL's CPU not readable here"
      : `PostgreSQL ${(((postgresAfter - postgresBefore) * 1e6) / count).toFixed(0)} µs CPU each`;
  console.log(
    `${way.padEnd(13)} ${(count / seconds).toFixed(0).padStart(6)} withdrawals/s, keyward ${((cpu.user + cpu.system) / count).toFixed(0)} µs CPU each, ${postgres}`,
  );
}

const schema = await createTestSchema(url, "keyward_check");
try {
  const { store } = await openStore(schema.url);
  try {
    await fill(store);
    const quarter = Math.floor(users / 4);
    const passes = ["transaction", "one statement", "transaction", "one statement"];
    for (const [i, way] of passes.entries()) await measure(store, way, i * quarter, (i + 1) * quarter);
  } finally {
    await store.close();
  }
} finally {
  await schema.drop();
}
