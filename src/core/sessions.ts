import type { SessionRecord, UserRecord } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { randomToken } from "./crypto.js";

/**
 * A signed-in browser. The cookie carries the random id; the store only its keyed hash. `user` is
 * the record the password was checked against: undefined when its password changed (or the user
 * went) meanwhile, so the password that was checked no longer signs anyone in.
 */
export async function startSession(ctx: CoreContext, user: UserRecord, ttlMs: number): Promise<string | undefined> {
  const id = randomToken(32);
  const now = ctx.now();
  const session = { hash: ctx.keys.hashToken(id), userId: user.id, createdAt: now, expiresAt: now + ttlMs };
  return (await ctx.store.createSession(session, user.passwordHash)) ? id : undefined;
}

export async function findSession(ctx: CoreContext, id: string | undefined): Promise<SessionRecord | undefined> {
  if (!id || id.length > 128) return undefined;
  return ctx.store.findSession(ctx.keys.hashToken(id), ctx.now());
}

export async function endSession(ctx: CoreContext, id: string): Promise<void> {
  await ctx.store.deleteSession(ctx.keys.hashToken(id));
}
