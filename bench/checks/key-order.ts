/**
 * `node dist/bench/checks/key-order.js [TOKENS] [ROTATIONS]`: what time-ordered storage keys save
 * on SQLite as the tokens table grows. For each kind of key, a fresh database is filled with
 * TOKENS refresh tokens, then ROTATIONS refresh rotations run through keyward's store, 50 at a
 * time as the server runs them: spend a stored token, store the two that replace it, then flush.
 * Keys are what `ServerKeys.hashToken` stores: a keyed hash, after the mint time or not.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { orderedToken, randomToken } from "../../src/core/crypto.js";
import { openStore } from "../../src/store/open.js";
import type { GrantRecord, Store } from "../../src/store/types.js";
import { checkGrant, checkToken } from "./records.js";

const CONCURRENCY = 50;
const FILL_BATCH = 1000;
const tokens = Number(process.argv[2] ?? 100_000);
const rotations = Number(process.argv[3] ?? 20_000);

type KeyOf = (now: number) => string;
const KINDS: Record<string, KeyOf> = {
  random: () => randomToken(32),
  "time-ordered": (now) => orderedToken(now),
};

async function fill(store: Store, keyOf: KeyOf): Promise<{ grant: GrantRecord; keys: string[] }> {
  const now = Date.now();
  const grant = checkGrant(now);
  await store.createGrant(grant);
  const keys: string[] = [];
  while (keys.length < tokens) {
    const batch = Array.from({ length: Math.min(FILL_BATCH, tokens - keys.length) }, () =>
      checkToken(grant, keyOf(Date.now()), "refresh", Date.now()),
    );
    await store.transaction((tx) => tx.saveTokens(batch));
    keys.push(...batch.map((token) => token.hash));
  }
  await store.flush();
  return { grant, keys };
}

async function measure(name: string, keyOf: KeyOf): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), "keyward-key-order-"));
  const { store } = await openStore(join(directory, "check.db"));
  try {
    const { grant, keys } = await fill(store, keyOf);
    // Spent in a random order: a refresh token is used whenever its client comes back.
    const order = keys.map((key) => ({ key, rank: Math.random() })).sort((a, b) => a.rank - b.rank);
    let next = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < rotations) {
          const spent = order[next++ % order.length]?.key ?? "";
          const now = Date.now();
          const replacements = [
            checkToken(grant, keyOf(now), "refresh", now),
            checkToken(grant, keyOf(now), "refresh", now),
          ];
          await store.transaction(async (tx) => {
            if ((await tx.consumeRefreshToken(spent, grant.clientId, now)).status === "consumed") {
              await tx.saveTokens(replacements);
            }
          });
          await store.flush();
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const perRotation = (micros: number) => (micros / rotations).toFixed(0);
    console.log(
      `${name.padEnd(13)} ${perRotation(elapsedMs * 1000).padStart(6)} µs wall  ${perRotation(cpu.user + cpu.system).padStart(6)} µs CPU per rotation (${tokens} tokens stored first)`,
    );
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

for (const [name, keyOf] of Object.entries(KINDS)) await measure(name, keyOf);
