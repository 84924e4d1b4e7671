/**
 * `node dist/bench/checks/clustered-tables.js [GRANTS] [ROUNDS]`: what migration 0003 (grants,
 * consents, clients and users as SQLite `WITHOUT ROWID` tables) changes for the store calls of
 * introspection and revocation. Two databases, one at 0002 and one migrated to the latest, are
 * filled alike with GRANTS lineages of one refresh token each. Each round then runs, on each
 * database in turn, token lookups and revocations (look the token up, revoke its grant, withdraw
 * the consent, flush), 50 at a time as the server runs them, and prints the median CPU time per
 * call over the rounds. The two layouts alternate within each round, so both see the same machine.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { orderedToken } from "../../src/core/crypto.js";
import { migrateDatabase } from "../../src/store/migrate.js";
import { connectDatabase, storeOver } from "../../src/store/open.js";
import type { Store, TokenRecord } from "../../src/store/types.js";
import { median } from "../summary.js";
import { checkGrant, checkToken } from "./records.js";

const CONCURRENCY = 50;
const FILL_BATCH = 1000;
const LOOKUPS = 20_000;
const REVOCATIONS = 5_000;
const grants = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("ROUNDS takes a whole number of at least 1");
// Every round revokes lineages of its own.
if (!Number.isInteger(grants) || grants < rounds * REVOCATIONS) {
  throw new Error(`GRANTS takes a whole number of at least ${rounds * REVOCATIONS} for ${rounds} rounds`);
}

interface Layout {
  name: string;
  store: Store;
  tokens: TokenRecord[];
  /** Revoked so far; each revocation takes a lineage no earlier one took. */
  revoked: number;
  figures: Record<"lookup" | "revoke", number[]>;
}

async function open(directory: string, name: string, target: string | undefined): Promise<Layout> {
  const connected = await connectDatabase(join(directory, `${name}.db`));
  await migrateDatabase(connected.db, connected.engine, target);
  const store = storeOver(connected);
  const tokens: TokenRecord[] = [];
  while (tokens.length < grants) {
    const batch = Math.min(FILL_BATCH, grants - tokens.length);
    await store.transaction(async (tx) => {
      for (let i = 0; i < batch; i++) {
        const now = Date.now();
        // One user per lineage, so each revocation withdraws a consent of its own.
        const grant = { ...checkGrant(now), userId: `user-${tokens.length}` };
        await tx.createGrant(grant);
        await tx.saveConsent({ clientId: grant.clientId, userId: grant.userId, scopes: grant.scopes, updatedAt: now });
        const token = checkToken(grant, orderedToken(now), "refresh", now);
        await tx.saveTokens([token]);
        tokens.push(token);
      }
    });
  }
  await store.flush();
  return { name, store, tokens, revoked: 0, figures: { lookup: [], revoke: [] } };
}

/** CPU microseconds per call of `work`, run `count` times, CONCURRENCY at once. */
async function cpuPerCall(count: number, work: (index: number) => Promise<void>): Promise<number> {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await work(next++);
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const randomToken = (layout: Layout) => layout.tokens[Math.floor(Math.random() * layout.tokens.length)] as TokenRecord;

async function round(layout: Layout): Promise<void> {
  const { store } = layout;
  layout.figures.lookup.push(
    await cpuPerCall(LOOKUPS, async () => {
      await store.findToken(randomToken(layout).hash);
    }),
  );
  layout.figures.revoke.push(
    await cpuPerCall(REVOCATIONS, async () => {
      const spare = layout.tokens[layout.tokens.length - 1 - layout.revoked++];
      const token = spare && (await store.findToken(spare.hash));
      if (!token) throw new Error(`lineage ${layout.revoked} was not found`);
      await store.transaction(async (tx) => {
        await tx.revokeGrant(token.grantId, Date.now());
        await tx.deleteConsent(token.clientId, token.userId);
      });
      await store.flush();
    }),
  );
}

const directory = mkdtempSync(join(tmpdir(), "keyward-clustered-"));
try {
  const layouts = [await open(directory, "rowid", "0002_scale_out"), await open(directory, "clustered", undefined)];
  for (let r = 0; r < rounds; r++) {
    for (const layout of r % 2 === 0 ? layouts : [...layouts].reverse()) await round(layout);
  }
  for (const { name, figures } of layouts) {
    const lookup = (median(figures.lookup) ?? 0).toFixed(1);
    const revoke = (median(figures.revoke) ?? 0).toFixed(1);
    console.log(`${name.padEnd(10)} lookup ${lookup.padStart(6)} µs CPU   revocation ${revoke.padStart(6)} µs CPU`);
  }
  for (const layout of layouts) await layout.store.close();
} finally {
  rmSync(directory, { recursive: true, force: true });
}
