/** Consents: what a user let a client have, saved, held while a lineage is issued under it, listed, withdrawn. */
import { deleteConsentQuery } from "../queries.js";
import { joinScopes, toConsent } from "../records.js";
import type { ConsentRecord } from "../types.js";
import type { KyselyContext } from "./context.js";

export async function getConsent(
  cx: KyselyContext,
  clientId: string,
  userId: string,
): Promise<ConsentRecord | undefined> {
  const row = await cx.db
    .selectFrom("consents")
    .selectAll()
    .where("client_id", "=", clientId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row && toConsent(row, userId);
}

export async function saveConsent(cx: KyselyContext, consent: ConsentRecord): Promise<void> {
  const scopes = joinScopes(consent.scopes);
  await cx.db
    .insertInto("consents")
    .values({ client_id: consent.clientId, user_id: consent.userId, scopes, updated_at: consent.updatedAt })
    .onConflict((oc) => oc.columns(["client_id", "user_id"]).doUpdateSet({ scopes, updated_at: consent.updatedAt }))
    .execute();
}

export async function holdConsent(cx: KyselyContext, clientId: string, userId: string, now: number): Promise<void> {
  // An upsert that updates takes the row's lock on PostgreSQL, and waits for another holder;
  // SQLite's write lock already holds the whole database for the transaction.
  await cx.db
    .insertInto("consents")
    .values({ client_id: clientId, user_id: userId, scopes: "", updated_at: now })
    .onConflict((oc) =>
      oc.columns(["client_id", "user_id"]).doUpdateSet((eb) => ({ updated_at: eb.ref("consents.updated_at") })),
    )
    .execute();
}

export async function listConsents(cx: KyselyContext, userId: string): Promise<ConsentRecord[]> {
  const rows = await cx.db
    .selectFrom("consents")
    .selectAll()
    // Keyed by client, then user: naming every client reads the user's entries, not the table.
    .where("client_id", "in", cx.db.selectFrom("clients").select("id"))
    .where("user_id", "=", userId)
    .orderBy("updated_at", "desc")
    .orderBy("client_id")
    .execute();
  return rows.map((row) => toConsent(row, userId));
}

export async function deleteConsent(cx: KyselyContext, clientId: string, userId: string): Promise<void> {
  await cx.run("deleteConsent", deleteConsentQuery, clientId, userId);
}
