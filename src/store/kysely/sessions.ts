/** Sign-in sessions: started only while the user's password is the one checked, found while unexpired, ended. */
import { toSession } from "../records.js";
import type { SessionRecord } from "../types.js";
import type { KyselyContext } from "./context.js";

export async function createSession(cx: KyselyContext, session: SessionRecord, passwordHash: string): Promise<boolean> {
  return cx.transaction(async ({ db }) => {
    // As holdUser, and only while the password is the one checked: on PostgreSQL the update takes
    // the user's row lock, so a password change waits for this to commit and then ends this
    // session with the others, or commits first and leaves this update nothing to match.
    const held = await db
      .updateTable("users")
      .set((eb) => ({ created_at: eb.ref("users.created_at") }))
      .where("id", "=", session.userId)
      .where("password_hash", "=", passwordHash)
      .executeTakeFirst();
    if (held.numUpdatedRows === 0n) return false;
    await db
      .insertInto("sessions")
      .values({
        hash: session.hash,
        user_id: session.userId,
        created_at: session.createdAt,
        expires_at: session.expiresAt,
      })
      .execute();
    return true;
  });
}

export async function findSession(cx: KyselyContext, hash: string, now: number): Promise<SessionRecord | undefined> {
  const row = await cx.db
    .selectFrom("sessions")
    .selectAll()
    .where("hash", "=", hash)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  return row && toSession(row);
}

export async function deleteSession(cx: KyselyContext, hash: string): Promise<void> {
  await cx.db.deleteFrom("sessions").where("hash", "=", hash).execute();
}

export async function deleteUserSessions(cx: KyselyContext, userId: string): Promise<number> {
  const result = await cx.db.deleteFrom("sessions").where("user_id", "=", userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
