import { setImmediate as nextTurn } from "node:timers/promises";
import type { Kysely } from "kysely";
import { retryOnConflict } from "./errors.js";
import type { Database } from "./schema.js";
import type { PruneCounts } from "./types.js";

/**
 * A lineage is pruned only when nothing can be issued from it again (no code, no token) and it
 * is older than this, so an issuance still in flight on another instance is never cut short.
 */
const LINEAGE_GRACE_MS = 3600_000;

/** A statement that took longer halves the next batch; one under a quarter of it doubles it back. */
const BATCH_TARGET_MS = 20;
const MIN_BATCH = 10;

/**
 * The rows the next delete statement takes: the configured batch, less while statements run long,
 * where that is the time they hold the event loop (SQLite: a batch of expired tokens scattered over
 * a large file's indexes took up to 100 ms). Elsewhere (PostgreSQL) the time is mostly the round
 * trip, and the batch stays as configured.
 */
export class BatchSize {
  current: number;

  constructor(
    private readonly max: number,
    private readonly adaptive: boolean,
    first = max,
  ) {
    this.current = adaptive ? Math.min(first, max) : max;
  }

  /**
   * Runs `work` on at most `current` rows, and sizes the next batch by its time; how many rows it
   * did, and whether that was all it was allowed (so there may be more).
   */
  async run(work: (limit: number) => Promise<number>): Promise<{ done: number; full: boolean }> {
    const limit = this.current;
    const started = performance.now();
    const done = await work(limit);
    this.took(performance.now() - started);
    return { done, full: done >= limit };
  }

  /** After a statement of `current` rows that took `elapsedMs`. */
  took(elapsedMs: number): void {
    if (!this.adaptive) return;
    if (elapsedMs > BATCH_TARGET_MS)
      this.current = Math.max(Math.min(MIN_BATCH, this.max), Math.floor(this.current / 2));
    else if (elapsedMs < BATCH_TARGET_MS / 4) this.current = Math.min(this.max, this.current * 2);
  }
}

/** Runs `statement`, a delete of at most `size.current` rows, retried on a conflict; how many it deleted. */
function timedDelete(
  size: BatchSize,
  statement: (limit: number) => Promise<{ numDeletedRows: bigint }>,
): Promise<{ done: number; full: boolean }> {
  return size.run(async (limit) => Number((await retryOnConflict(() => statement(limit))).numDeletedRows));
}

/** Each batch is its own short statement: row locks are held for one batch, never for the whole run. */
async function deleteInBatches(
  size: BatchSize,
  statement: (limit: number) => Promise<{ numDeletedRows: bigint }>,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { done: deleted, full } = await timedDelete(size, statement);
    total += deleted;
    if (!full) return total;
    await nextTurn();
  }
}

/**
 * Deletes expired codes, tokens and sessions, then lineages left with nothing in them, then
 * retired signing keys past the end of their publication. Consumed codes and refresh tokens stay
 * until they expire: they are what detects a replay. Safe to run from many instances at once;
 * the deletes are idempotent.
 */
export async function pruneExpired(
  db: Kysely<Database>,
  now: number,
  batchSize: number,
  statementsHoldEventLoop: boolean,
): Promise<PruneCounts> {
  const size = () => new BatchSize(batchSize, statementsHoldEventLoop);
  const authorizationCodes = await deleteExpired(db, "authorization_codes", now, size());
  const tokens = await deleteExpired(db, "tokens", now, size());
  const sessions = await deleteExpired(db, "sessions", now, size());
  const grants = await deleteEmptyLineages(db, now, batchSize, size());
  // Retired keys no longer published verify nothing still valid; their private halves go with them.
  let signingKeys = 0;
  for (const table of ["signing_keys", "webhook_keys"] as const) {
    const deleted = await retryOnConflict(() =>
      db.deleteFrom(table).where("publish_until", "is not", null).where("publish_until", "<=", now).executeTakeFirst(),
    );
    signingKeys += Number(deleted.numDeletedRows);
  }
  return { authorizationCodes, tokens, sessions, grants, signingKeys };
}

/** A statement deleting empty lineages reads at most this many batches' worth of grants, and at most MAX_GRANT_RANGE. */
const GRANT_RANGE_BATCHES = 10;
const MAX_GRANT_RANGE = 10_000;

/**
 * Deletes the lineages left with no code and no token, older than LINEAGE_GRACE_MS. The grants
 * are walked in primary-key order, a range of GRANT_RANGE_BATCHES × `batchSize` (at most
 * MAX_GRANT_RANGE) at a time, so
 * that no statement grows with the table: one statement over every grant (restarted for each
 * batch) held SQLite's connection, and so the event loop, for about a second at a million live
 * lineages, on every prune.
 */
async function deleteEmptyLineages(
  db: Kysely<Database>,
  now: number,
  batchSize: number,
  size: BatchSize,
): Promise<number> {
  const range = Math.min(GRANT_RANGE_BATCHES * batchSize, MAX_GRANT_RANGE);
  let total = 0;
  let after = "";
  for (;;) {
    // The range is (after, last], or everything after `after` when fewer grants are left.
    const last = await db
      .selectFrom("grants")
      .select("id")
      .where("id", ">", after)
      .orderBy("id")
      .limit(1)
      .offset(range - 1)
      .executeTakeFirst();
    const { done: deleted, full } = await timedDelete(size, (limit) =>
      db
        .deleteFrom("grants")
        .where(
          "id",
          "in",
          db
            .selectFrom("grants as g")
            .select("g.id")
            .where("g.id", ">", after)
            .$if(last !== undefined, (q) => q.where("g.id", "<=", last?.id ?? ""))
            .where("g.created_at", "<=", now - LINEAGE_GRACE_MS)
            .where(({ exists, not, selectFrom }) =>
              not(exists(selectFrom("tokens").select("tokens.hash").whereRef("tokens.grant_id", "=", "g.id"))),
            )
            .where(({ exists, not, selectFrom }) =>
              not(
                exists(
                  selectFrom("authorization_codes")
                    .select("authorization_codes.hash")
                    .whereRef("authorization_codes.grant_id", "=", "g.id"),
                ),
              ),
            )
            .limit(limit),
        )
        .executeTakeFirst(),
    );
    total += deleted;
    // A full batch may have left more in its range, which is then read again.
    if (!full) {
      if (last === undefined) return total;
      after = last.id;
    }
    await nextTurn();
  }
}

/** The tables whose rows carry their own expiry, seen through the two columns pruning reads. */
type Expiring = Record<"authorization_codes" | "tokens" | "sessions", { hash: string; expires_at: number }>;

/** Deletes the table's rows whose `expires_at` has passed, a batch of `size` at a time; how many. */
function deleteExpired(database: Kysely<Database>, table: keyof Expiring, now: number, size: BatchSize) {
  const db = database as unknown as Kysely<Expiring>;
  return deleteInBatches(size, (limit) =>
    db
      .deleteFrom(table)
      .where(
        "hash",
        "in",
        db.selectFrom(`${table} as expired`).select("expired.hash").where("expired.expires_at", "<=", now).limit(limit),
      )
      .executeTakeFirst(),
  );
}
