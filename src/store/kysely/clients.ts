/** Clients: registration, lookup (remembered per view), changes, deletion with all issued to them, and the hold. */
import { storable } from "../queries.js";
import { joinScopes, toClient } from "../records.js";
import type { ClientChanges, ClientRecord } from "../types.js";
import type { KyselyContext } from "./context.js";
import { purgeLineages } from "./lineage-purge.js";

export async function createClient(cx: KyselyContext, client: ClientRecord): Promise<void> {
  await cx.db
    .insertInto("clients")
    .values({
      id: client.id,
      name: client.name,
      secret_hash: client.secretHash,
      redirect_uris: JSON.stringify(client.redirectUris),
      scopes: joinScopes(client.scopes),
      created_at: client.createdAt,
      updated_at: client.updatedAt,
    })
    .execute();
  await cx.announceClientChange();
}

export function getClient(cx: KyselyContext, id: string): Promise<ClientRecord | undefined> {
  if (!storable(id)) return Promise.resolve(undefined);
  return cx.clients.read(id, async () => {
    const { rows } = await cx.run(
      "getClient",
      (db, clientId: string) => db.selectFrom("clients").selectAll().where("id", "=", clientId),
      id,
    );
    return rows[0] && toClient(rows[0]);
  });
}

export async function listClients(
  cx: KyselyContext,
  after: string | undefined,
  limit: number,
): Promise<ClientRecord[]> {
  let query = cx.db.selectFrom("clients").selectAll().orderBy("id").limit(limit);
  if (after !== undefined) query = query.where("id", ">", after);
  return (await query.execute()).map(toClient);
}

export async function deleteClient(cx: KyselyContext, id: string): Promise<boolean> {
  if (!storable(id)) return false;
  await purgeLineages(cx, (db) => db.selectFrom("grants").select("id").where("client_id", "=", id));
  const deleted = await cx.transaction(async ({ db }) => {
    // The client's row first: a transaction holding it (holdClient) makes this wait until it
    // commits, so the statements below see the lineage it wrote; one that comes later finds no client.
    if (cx.rowLocks) await db.selectFrom("clients").select("id").where("id", "=", id).forUpdate().execute();
    // By their lineages, whose index leads with the client: tokens have no index on their client,
    // and reading the whole table took over a second at two million tokens.
    const grantIds = db.selectFrom("grants").select("id").where("client_id", "=", id);
    await db.deleteFrom("tokens").where("grant_id", "in", grantIds).execute();
    await db.deleteFrom("authorization_codes").where("grant_id", "in", grantIds).execute();
    await db.deleteFrom("grants").where("client_id", "=", id).execute();
    await db.deleteFrom("consents").where("client_id", "=", id).execute();
    const result = await db.deleteFrom("clients").where("id", "=", id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  });
  if (deleted) await cx.announceClientChange();
  return deleted;
}

export async function setClientSecretHash(
  cx: KyselyContext,
  id: string,
  secretHash: string,
  now: number,
  previousValidUntil?: number,
): Promise<boolean> {
  if (!storable(id)) return false;
  const result = await cx.db
    .updateTable("clients")
    .set((eb) => ({
      secret_hash: secretHash,
      updated_at: now,
      // The right-hand side reads the row as it was: the secret being replaced.
      previous_secret_hash: previousValidUntil === undefined ? null : eb.ref("clients.secret_hash"),
      previous_secret_expires_at: previousValidUntil ?? null,
    }))
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows > 0n) await cx.announceClientChange();
  return result.numUpdatedRows > 0n;
}

export async function updateClient(
  cx: KyselyContext,
  id: string,
  changes: ClientChanges,
  now: number,
): Promise<boolean> {
  if (!storable(id)) return false;
  const result = await cx.db
    .updateTable("clients")
    .set({
      updated_at: now,
      ...(changes.name !== undefined && { name: changes.name }),
      ...(changes.redirectUris !== undefined && { redirect_uris: JSON.stringify(changes.redirectUris) }),
      ...(changes.scopes !== undefined && { scopes: joinScopes(changes.scopes) }),
    })
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows > 0n) await cx.announceClientChange();
  return result.numUpdatedRows > 0n;
}

export async function holdClient(cx: KyselyContext, id: string): Promise<boolean> {
  if (!storable(id)) return false;
  const query = cx.db.selectFrom("clients").select("id").where("id", "=", id);
  // FOR KEY SHARE, the lock a foreign key check takes: holders do not wait on one another, and
  // deleteClient's FOR UPDATE waits for them all. SQLite's write lock already holds the whole
  // database for the transaction, and SQLite has no row locks.
  const row = await (cx.rowLocks ? query.forKeyShare() : query).executeTakeFirst();
  return row !== undefined;
}
