/**
 * Tokens: stored, looked up with their lineage, and spent: a refresh token consumed, rotated, or its
 * rotation answered again. `spendAndSave` also serves the exchange of an authorization code.
 */
import type { QueryCreator, UpdateQueryBuilder, UpdateResult } from "kysely";
import { certainlyUncommitted, isUnavailable } from "../errors.js";
import { consumeRefreshQuery, inLiveLineage, spentOne, successorOf } from "../queries.js";
import { toToken } from "../records.js";
import type { Database } from "../schema.js";
import { TOKEN_COLUMNS, TOKEN_FIELDS, tokenRows, tokenRowsIfSpent, tokenValues } from "../token-rows.js";
import type { ConsumeOutcome, TokenRecord, TokenWithGrant } from "../types.js";
import type { KyselyContext } from "./context.js";

/**
 * `spend` marks the client's code or refresh token used and, only if it did, `tokens` are stored:
 * on PostgreSQL in one statement, elsewhere in one transaction. Otherwise `whyNot` tells why.
 */
export async function spendAndSave<Spent extends "authorization_codes" | "tokens", Outcome, Extra extends unknown[]>(
  cx: KyselyContext,
  name: string,
  spend: (
    db: QueryCreator<Database>,
    hash: string,
    client: string,
    at: number,
    ...extra: Extra
  ) => UpdateQueryBuilder<Database, Spent, Spent, UpdateResult>,
  hash: string,
  clientId: string,
  now: number,
  tokens: TokenRecord[],
  /** `spend`'s own arguments after the time. */
  extra: Extra,
  outcomes: { spent: Outcome; whyNot: (cx: KyselyContext) => Promise<Outcome> },
): Promise<Outcome> {
  if (!cx.writableCtes || tokens.length === 0) {
    return cx.transaction(async (inner) => {
      if (!spentOne(await inner.run(name, spend, hash, clientId, now, ...extra))) return outcomes.whyNot(inner);
      await saveTokens(inner, tokens);
      return outcomes.spent;
    });
  }
  const saving = cx.retriedAlone(() =>
    cx.run(
      `${name}AndSave${tokens.length}`,
      (db, spentHash: string, client: string, at: number, ...values: unknown[]) =>
        db
          .with("spent", (q) =>
            spend(q, spentHash, client, at, ...(values.slice(0, extra.length) as Extra)).returning("hash"),
          )
          .insertInto("tokens")
          .columns(TOKEN_COLUMNS)
          .expression(tokenRowsIfSpent(values.slice(extra.length)))
          .returning("hash"),
      hash,
      clientId,
      now,
      ...extra,
      ...tokenValues(tokens),
    ),
  );
  let rows: unknown[];
  try {
    ({ rows } = await saving);
  } catch (error) {
    // The connection broke after the statement was sent: it may have committed, with its answer
    // lost. Its tokens tell, read on another connection; a client told to retry a spend that
    // stood would present a spent code or token, and lose its lineage for reuse. A statement the
    // database cancelled did not commit: looking would only wait on the same locks again.
    const [first] = tokens;
    const unknown = isUnavailable(error) && !certainlyUncommitted(error);
    if (first && unknown && (await findToken(cx, first.hash).catch(() => undefined))) {
      return outcomes.spent;
    }
    throw error;
  }
  return rows.length > 0 ? outcomes.spent : outcomes.whyNot(cx);
}

export async function saveTokens(cx: KyselyContext, tokens: TokenRecord[]): Promise<void> {
  if (tokens.length === 0) return;
  await cx.run(
    `saveTokens${tokens.length}`,
    (db, ...slots: unknown[]) => db.insertInto("tokens").values(tokenRows(slots)),
    ...tokenValues(tokens),
  );
}

export async function findToken(cx: KyselyContext, hash: string): Promise<TokenWithGrant | undefined> {
  const { rows } = await cx.run(
    "findToken",
    (db, tokenHash: string) =>
      db
        .selectFrom("tokens")
        .innerJoin("grants", "grants.id", "tokens.grant_id")
        // Not the hash: the caller has it, and each text column read is a string to allocate.
        .select(TOKEN_FIELDS.map((column) => `tokens.${column}` as const))
        .select("grants.revoked_at as grant_revoked_at")
        .where("tokens.hash", "=", tokenHash),
    hash,
  );
  const row = rows[0];
  return row && toToken(hash, row, row.grant_revoked_at);
}

export async function consumeRefreshToken(
  cx: KyselyContext,
  hash: string,
  clientId: string,
  now: number,
): Promise<ConsumeOutcome> {
  const result = await cx.run("consumeRefreshToken", consumeRefreshQuery, hash, clientId, now, null);
  if (spentOne(result)) return { status: "consumed" };
  return whyNotConsumed(cx, hash, clientId);
}

/** What a rotation is given: the client's refresh token, the time, and the tokens it stores. */
type Rotation = (
  cx: KyselyContext,
  hash: string,
  clientId: string,
  now: number,
  tokens: TokenRecord[],
) => Promise<ConsumeOutcome>;

export const rotateRefreshToken: Rotation = async (cx, hash, clientId, now, tokens) =>
  spendAndSave(
    cx,
    "consumeRefreshToken",
    consumeRefreshQuery,
    hash,
    clientId,
    now,
    tokens,
    [successorOf(tokens)] as [string | null],
    {
      spent: { status: "consumed" },
      whyNot: (inner) => whyNotConsumed(inner, hash, clientId),
    },
  );

export const replaceRotation: Rotation = async (cx, hash, clientId, now, tokens) =>
  cx.transaction((inner) => replaceSuccessor(inner, hash, clientId, now, tokens));

/** `replaceRotation` inside its transaction. */
const replaceSuccessor: Rotation = async (cx, hash, clientId, now, tokens) => {
  // An update that changes nothing, to read the successor under the row's lock: on PostgreSQL a
  // concurrent retry waits here for this one to commit, then reads the successor this one named.
  const parent = await cx.db
    .updateTable("tokens")
    .set((eb) => ({ successor: eb.ref("successor") }))
    .where("hash", "=", hash)
    .where("client_id", "=", clientId)
    .where("kind", "=", "refresh")
    .returning("successor")
    .executeTakeFirst();
  const successor = parent?.successor;
  if (successor == null) return whyNotReplaced(cx, hash, clientId);
  // Only while the successor is unused: once the client has rotated it, the parent is spent for good.
  const replaced = await cx.db
    .updateTable("tokens")
    .set({ consumed_at: now })
    .where("hash", "=", successor)
    .where("consumed_at", "is", null)
    .where(inLiveLineage("tokens.grant_id"))
    .returning(["grant_id", "created_at"])
    .executeTakeFirst();
  if (replaced === undefined) return whyNotReplaced(cx, hash, clientId);
  // The access token minted beside it goes too: the lineage keeps one live pair.
  await cx.db
    .updateTable("tokens")
    .set({ consumed_at: now })
    .where("grant_id", "=", replaced.grant_id)
    .where("kind", "=", "access")
    .where("created_at", "=", replaced.created_at)
    .where("consumed_at", "is", null)
    .execute();
  await cx.db
    .updateTable("tokens")
    .set({ successor: successorOf(tokens) })
    .where("hash", "=", hash)
    .execute();
  await saveTokens(cx, tokens);
  return { status: "consumed" };
};

/** Why a rotation of the client's refresh token could not be answered again: a spent token is "reused". */
async function whyNotReplaced(cx: KyselyContext, hash: string, clientId: string): Promise<ConsumeOutcome> {
  // A token not yet spent has no rotation to answer again, whatever else `whyNotConsumed` would say of it.
  const outcome = await whyNotConsumed(cx, hash, clientId);
  return outcome.status === "reused" ? outcome : { status: "unknown" };
}

/** Why the client's refresh token could not be consumed. */
async function whyNotConsumed(cx: KyselyContext, hash: string, clientId: string): Promise<ConsumeOutcome> {
  const row = await findToken(cx, hash);
  if (row?.kind !== "refresh" || row.clientId !== clientId) return { status: "unknown" };
  if (row.consumedAt !== null) return { status: "reused", token: row };
  if (row.grantRevokedAt !== null) return { status: "revoked" };
  return { status: "expired" };
}
