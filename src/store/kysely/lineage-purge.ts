/** Deleting very many lineages a short transaction at a time, before the client or user they belong to goes. */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Kysely, SelectQueryBuilder } from "kysely";
import { BatchSize } from "../prune.js";
import type { Database } from "../schema.js";
import type { KyselyContext } from "./context.js";

/** Lineages per transaction at first, and at most; on SQLite, BatchSize keeps each transaction near 20 ms. */
const FIRST_CHUNK = 100;
const MAX_CHUNK = 1000;

type GrantIds = SelectQueryBuilder<Database, "grants", { id: string }>;

/**
 * Deletes the lineages `pick` selects (grant ids), with their tokens and codes, a chunk per
 * transaction, until none is left. One transaction over a client's 300,000 lineages held SQLite's
 * connection, and so every request, for 35 s. Tokens of a lineage not yet reached keep working
 * until its chunk commits: the caller's own transaction, which follows, deletes whatever is left
 * (lineages issued meanwhile included), so its answer still comes only once nothing works.
 */
export async function purgeLineages(cx: KyselyContext, pick: (db: Kysely<Database>) => GrantIds): Promise<void> {
  if (cx.db.isTransaction) return;
  const size = new BatchSize(MAX_CHUNK, cx.statementsHoldEventLoop, FIRST_CHUNK);
  for (;;) {
    const { full } = await size.run((limit) =>
      cx.transaction(async ({ db }) => {
        const ids = (
          await pick(db as Kysely<Database>)
            .limit(limit)
            .execute()
        ).map((row) => row.id);
        if (ids.length === 0) return 0;
        await db.deleteFrom("tokens").where("grant_id", "in", ids).execute();
        await db.deleteFrom("authorization_codes").where("grant_id", "in", ids).execute();
        await db.deleteFrom("grants").where("id", "in", ids).execute();
        return ids.length;
      }),
    );
    if (!full) return;
    await nextTurn();
  }
}
