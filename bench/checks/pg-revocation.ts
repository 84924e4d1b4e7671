/**
 * `node dist/bench/checks/pg-revocation.js POSTGRES_URL [USERS]`: what revocations cost on
 * PostgreSQL as one statement against a transaction around the same writes:
 * - withdrawing a consent (a refresh token's revocation): `revokeToken`, one statement with
 *   data-modifying CTEs that finds the token too, against begin, revoke the user's lineages, delete
 *   the consent, commit (the token already found);
 * - revoking one lineage (an access token's revocation): `revokeToken` again, against begin,
 *   revoke the lineage, commit.
 * In a schema of its own, the check stores a lineage, its two tokens and a consent for each of
 * USERS users (default 20,000), then revokes them 50 at a time through keyward's store, an eighth of
 * the users per pass, each way twice, in turn. Each pass checks that every lineage was revoked once
 * (and every consent withdrawn). Where PostgreSQL runs on this machine (Linux), its processes' CPU
 * is read from /proc.
 */

import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/types.js";
import { createTestSchema } from "../../test/support/postgres.js";
import { costOf } from "./postgres-cpu.js";
import { checkGrant, checkToken } from "./records.js";

const CONCURRENCY = 50;
const CLIENT = "OC-check";
const url = process.argv[2];
const users = Number(process.argv[3] ?? 20_000);
if (!url || !(users >= 8)) throw new Error("usage: node dist/bench/checks/pg-revocation.js POSTGRES_URL [USERS]");

/** Revokes what user `i` was given; how many lineages that revoked (or, for revokeToken, tokens found). */
type Revoke = (store: Store, i: number, now: number) => Promise<number>;

const grantIds: string[] = [];
const userId = (i: number) => `user-${i}`;
const grantOf = (i: number) => grantIds[i] as string;
const tokenKey = (kind: "access" | "refresh", i: number) => `${kind}-${i}`;

const WAYS: Record<string, Revoke> = {
  "consent, transaction": (store, i, now) =>
    store.transaction(async (tx) => {
      const revoked = await tx.revokeGrantsOf(CLIENT, userId(i), now);
      await tx.deleteConsent(CLIENT, userId(i));
      return revoked;
    }),
  "consent, one statement": async (store, i, now) =>
    Number(await store.revokeToken(tokenKey("refresh", i), CLIENT, now)),
  "lineage, transaction": async (store, i, now) =>
    Number(await store.transaction((tx) => tx.revokeGrant(grantOf(i), now))),
  "lineage, one statement": async (store, i, now) =>
    Number(await store.revokeToken(tokenKey("access", i), CLIENT, now)),
};

async function fill(store: Store): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < users; start += 1000) {
    await store.transaction(async (tx) => {
      for (let i = start; i < Math.min(start + 1000, users); i++) {
        const grant = { ...checkGrant(now), userId: userId(i) };
        grantIds[i] = grant.id;
        await tx.createGrant(grant);
        await tx.saveTokens([
          checkToken(grant, tokenKey("access", i), "access", now),
          checkToken(grant, tokenKey("refresh", i), "refresh", now),
        ]);
        await tx.saveConsent({ clientId: CLIENT, userId: userId(i), scopes: ["profile:read"], updatedAt: now });
      }
    });
  }
}

async function measure(store: Store, way: string, from: number, to: number): Promise<void> {
  const revoke = WAYS[way] as Revoke;
  let next = from;
  let revoked = 0;
  const count = to - from;
  const cost = await costOf(count, "each", async () => {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < to) {
          const count = await revoke(store, next++, Date.now());
          revoked += count;
        }
      }),
    );
  });
  if (revoked !== count) throw new Error(`${way}: ${revoked} lineages revoked for ${count} users`);
  const last = await store.findToken(tokenKey("access", to - 1));
  if (!last || last.grantRevokedAt === null) throw new Error(`${way}: ${userId(to - 1)}'s lineage is still live`);
  if (way.startsWith("consent") && (await store.getConsent(CLIENT, userId(to - 1)))) {
    throw new Error(`${way}: ${userId(to - 1)}'s consent is still there`);
  }
  console.log(`${way.padEnd(22)} ${cost.perSecond} revocations/s, ${cost.keyward}, ${cost.postgres}`);
}

const schema = await createTestSchema(url, "keyward_check");
try {
  const { store } = await openStore(schema.url);
  try {
    await fill(store);
    const eighth = Math.floor(users / 8);
    const ways = Object.keys(WAYS);
    const passes = [...ways, ...ways];
    for (const [i, way] of passes.entries()) await measure(store, way, i * eighth, (i + 1) * eighth);
  } finally {
    await store.close();
  }
} finally {
  await schema.drop();
}
