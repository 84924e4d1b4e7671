import type { SessionRecord } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { randomToken } from "./crypto.js";

/** A signed-in browser. The cookie carries the random id; the store only its keyed hash. */
export async function startSession(ctx: CoreContext, userId: string, ttlMs: number): Promise<string> {
  const id = randomToken(32);
  const now = ctx.now();
  await ctx.store.createSession({ hash: ctx.keys.hashToken(id), userId, createdAt: now, expiresAt: now + ttlMs });
  return id;
}

export async function findSession(ctx: CoreContext, id: string | undefined): Promise<SessionRecord | undefined> {
  if (!id || id.length > 128) return undefined;
  return ctx.store.findSession(ctx.keys.hashToken(id), ctx.now());
}

export async function endSession(ctx: CoreContext, id: string): Promise<void> {
  await ctx.store.deleteSession(ctx.keys.hashToken(id));
}
