/** Users: accounts, lookup by id or email, password changes, deletion with all held for them, and the hold. */
import { isUniqueViolation } from "../errors.js";
import { storable } from "../queries.js";
import { toUser } from "../records.js";
import { DuplicateError, type UserRecord } from "../types.js";
import type { KyselyContext } from "./context.js";
import { purgeLineages } from "./lineage-purge.js";

export async function createUser(cx: KyselyContext, user: UserRecord): Promise<void> {
  try {
    await cx.db
      .insertInto("users")
      .values({
        id: user.id,
        email: user.email,
        password_hash: user.passwordHash,
        display_name: user.displayName,
        team_id: user.teamId,
        created_at: user.createdAt,
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new DuplicateError(`a user with email ${user.email} already exists`);
    throw error;
  }
}

export async function getUserByEmail(cx: KyselyContext, email: string): Promise<UserRecord | undefined> {
  if (!storable(email)) return undefined;
  const row = await cx.db.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();
  return row && toUser(row);
}

export async function getUserById(cx: KyselyContext, id: string): Promise<UserRecord | undefined> {
  if (!storable(id)) return undefined;
  const row = await cx.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
  return row && toUser(row);
}

export async function listUsers(cx: KyselyContext, after: string | undefined, limit: number): Promise<UserRecord[]> {
  let query = cx.db.selectFrom("users").selectAll().orderBy("id").limit(limit);
  if (after !== undefined) query = query.where("id", ">", after);
  return (await query.execute()).map(toUser);
}

export async function setUserPassword(cx: KyselyContext, id: string, passwordHash: string): Promise<boolean> {
  return cx.transaction(async ({ db }) => {
    const result = await db
      .updateTable("users")
      .set({ password_hash: passwordHash })
      .where("id", "=", id)
      .executeTakeFirst();
    await db.deleteFrom("sessions").where("user_id", "=", id).execute();
    return result.numUpdatedRows > 0n;
  });
}

export async function deleteUser(cx: KyselyContext, id: string): Promise<boolean> {
  if (!storable(id)) return false;
  await purgeLineages(cx, (db) =>
    db
      .selectFrom("grants")
      .select("id")
      .where("client_id", "in", db.selectFrom("clients").select("id"))
      .where("user_id", "=", id),
  );
  return cx.transaction(async ({ db }) => {
    // Grants and consents are keyed by client, then user: naming every client lets both engines
    // use those keys instead of reading the whole table. Every grant has its client (deleteClient
    // removes a client's grants with it).
    // The user's row goes first: a transaction holding it (holdUser) makes this wait until it
    // commits, so the statements below see what it wrote; one that comes later finds no user.
    const user = await db.deleteFrom("users").where("id", "=", id).executeTakeFirst();
    const clientIds = db.selectFrom("clients").select("id");
    const grantIds = db.selectFrom("grants").select("id").where("client_id", "in", clientIds).where("user_id", "=", id);
    await db.deleteFrom("tokens").where("grant_id", "in", grantIds).execute();
    await db.deleteFrom("authorization_codes").where("user_id", "=", id).execute();
    await db.deleteFrom("grants").where("client_id", "in", clientIds).where("user_id", "=", id).execute();
    await db.deleteFrom("consents").where("client_id", "in", clientIds).where("user_id", "=", id).execute();
    await db.deleteFrom("sessions").where("user_id", "=", id).execute();
    return user.numDeletedRows > 0n;
  });
}

export async function holdUser(cx: KyselyContext, id: string): Promise<boolean> {
  if (!storable(id)) return false;
  // As in holdConsent, an update takes the row's lock on PostgreSQL and SQLite's write lock
  // already holds the whole database; created_at is in no index, so the new row version is cheap.
  const result = await cx.db
    .updateTable("users")
    .set((eb) => ({ created_at: eb.ref("users.created_at") }))
    .where("id", "=", id)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
