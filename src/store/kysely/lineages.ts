/** Lineages (grants): created with their first code, revoked one at a time, all of a user's, or by a token. */
import {
  consentQuery,
  deleteConsentQuery,
  leadingRow,
  ofTokenOfKind,
  ROW_VERSION,
  revokeGrantQuery,
  revokeGrantsOfQuery,
  revokeGrantsOfUnconsentedQuery,
  tokenToRevokeQuery,
} from "../queries.js";
import { joinScopes } from "../records.js";
import type { GrantRecord } from "../types.js";
import type { KyselyContext } from "./context.js";

export async function createGrant(cx: KyselyContext, grant: GrantRecord): Promise<void> {
  await cx.db
    .insertInto("grants")
    .values({
      id: grant.id,
      client_id: grant.clientId,
      user_id: grant.userId,
      scopes: joinScopes(grant.scopes),
      created_at: grant.createdAt,
      revoked_at: grant.revokedAt,
    })
    .execute();
}

export async function revokeGrant(cx: KyselyContext, grantId: string, now: number): Promise<boolean> {
  if (cx.transactions && !cx.db.isTransaction) {
    // SQLite: on the write thread; failing that, in the batch rather than committing alone while
    // waiting for the write lock on the main thread. Elsewhere one statement is atomic as it is.
    const changes = await cx.writtenAlone([cx.compile("revokeGrant", revokeGrantQuery, grantId, now)]);
    if (changes) return (changes[0] ?? 0) > 0;
    return cx.transaction((tx) => revokeGrant(tx, grantId, now));
  }
  const result = await cx.retriedAlone(() => cx.run("revokeGrant", revokeGrantQuery, grantId, now));
  return (result.numAffectedRows ?? 0n) > 0n;
}

export async function revokeGrantsOf(
  cx: KyselyContext,
  clientId: string,
  userId: string,
  now: number,
): Promise<number> {
  const result = await cx.run("revokeGrantsOf", revokeGrantsOfQuery, clientId, userId, now);
  return Number(result.numAffectedRows ?? 0n);
}

export async function revokeToken(cx: KyselyContext, hash: string, clientId: string, now: number): Promise<boolean> {
  if (cx.writableCtes) {
    // Data-modifying CTEs all see the snapshot the statement began with: the token is still there.
    const { rows } = await cx.retriedAlone(() =>
      cx.run(
        "revokeToken",
        (db, tokenHash: string, client: string, at: number) =>
          db
            // The lineage of an access token; every lineage of the user of a refresh token, and the consent.
            .with("lineage", (q) =>
              revokeGrantQuery(q, ofTokenOfKind(q, "grant_id", tokenHash, client, "access"), at).returning("id"),
            )
            .with("lineages", (q) =>
              revokeGrantsOfQuery(q, client, ofTokenOfKind(q, "user_id", tokenHash, client, "refresh"), at).returning(
                "id",
              ),
            )
            // The consent as the snapshot has it, then as deleted: the latest version of its row.
            .with("seen", (q) =>
              consentQuery(q, client, ofTokenOfKind(q, "user_id", tokenHash, client, "refresh")).select([
                "user_id",
                ROW_VERSION.as("version"),
              ]),
            )
            .with("consent", (q) =>
              deleteConsentQuery(q, client, q.selectFrom("seen").select("user_id").$asScalar()).returning([
                "user_id",
                ROW_VERSION.as("version"),
              ]),
            )
            .selectFrom("tokens")
            // Read in this order, the CTEs run in it: the lineages' rows are taken before the
            // consent's, the lock order every writer keeps (one left to run after the query would
            // run after the consent's delete, and could deadlock with a disconnect).
            .select((eb) => [
              eb
                .selectFrom("lineage")
                .select((c) => c.fn.countAll<number>().as("n"))
                .as("lineage_revoked"),
              eb
                .selectFrom("lineages")
                .select((c) => c.fn.countAll<number>().as("n"))
                .as("lineages_revoked"),
              eb.selectFrom("consent").select("user_id").as("withdrawn_from"),
              eb.selectFrom("consent").select("version").as("deleted_version"),
              eb.selectFrom("seen").select("version").as("seen_version"),
            ])
            .where("hash", "=", tokenHash)
            .where("client_id", "=", client),
        hash,
        clientId,
        now,
      ),
    );
    const row = rows[0];
    // Every issuance under a consent updates its row (holdConsent). A row version newer than the
    // statement's snapshot means one committed while the delete waited for it: its lineage is
    // invisible to this statement, so a second one, with a snapshot of its own, revokes it,
    // unless the user has consented again since (then that lineage is theirs under the new
    // consent, and so is any lineage the new consent began, which must not be revoked).
    if (row?.withdrawn_from && row.deleted_version !== row.seen_version) {
      await cx.retriedAlone(() =>
        cx.run("revokeGrantsOfUnconsented", revokeGrantsOfUnconsentedQuery, clientId, String(row.withdrawn_from), now),
      );
    }
    return row !== undefined;
  }
  if (!cx.db.isTransaction) {
    // SQLite: the lookup runs with the writes on the write thread, whose pages are warm; the
    // serving connection's would be cold after the thread's last commit. The writes take the
    // grant or user from the lookup's row rather than a subquery each: one index descent
    // instead of four, and an update without a subquery changes its rows in one pass, where
    // one with a subquery first gathers their keys in a temporary table.
    const counts = await cx.writtenAlone([
      cx.compile("tokenToRevoke", tokenToRevokeQuery, hash, clientId),
      cx.compile(
        "revokeGrantOfLeadingRow",
        (db, at: number) => revokeGrantQuery(db, leadingRow("access_grant"), at),
        now,
      ),
      cx.compile(
        "revokeGrantsOfLeadingRow",
        (db, client: string, at: number) => revokeGrantsOfQuery(db, client, leadingRow("refresh_user"), at),
        clientId,
        now,
      ),
      cx.compile(
        "deleteConsentOfLeadingRow",
        (db, client: string) => deleteConsentQuery(db, client, leadingRow("refresh_user")),
        clientId,
      ),
    ]);
    if (counts) return (counts[0] ?? 0) > 0;
  }
  return cx.transaction(async (inner) => {
    const { rows } = await inner.run("tokenToRevoke", tokenToRevokeQuery, hash, clientId);
    const row = rows[0];
    if (row?.access_grant) await inner.run("revokeGrant", revokeGrantQuery, row.access_grant, now);
    if (row?.refresh_user) {
      await inner.run("revokeGrantsOf", revokeGrantsOfQuery, clientId, row.refresh_user, now);
      await inner.run("deleteConsent", deleteConsentQuery, clientId, row.refresh_user);
    }
    return row !== undefined;
  });
}
