import type { CoreContext } from "./context.js";

/** An integration the user has let act on their behalf, as the account page lists it. */
export interface Connection {
  clientId: string;
  clientName: string;
  scopes: readonly string[];
  /** When the user last consented. */
  since: number;
}

export async function listConnections(ctx: CoreContext, userId: string): Promise<Connection[]> {
  const connections: Connection[] = [];
  for (const consent of await ctx.store.listConsents(userId)) {
    const client = await ctx.store.getClient(consent.clientId);
    if (!client || consent.scopes.length === 0) continue;
    connections.push({
      clientId: client.id,
      clientName: client.name,
      scopes: consent.scopes,
      since: consent.updatedAt,
    });
  }
  return connections;
}

/**
 * Withdraws the user's consent to the client and revokes every lineage between them, as revoking
 * one of its refresh tokens does: the integration's tokens stop working, and its next
 * authorization request asks the user again. False when there was nothing to withdraw.
 */
export async function disconnect(ctx: CoreContext, userId: string, clientId: string): Promise<boolean> {
  const now = ctx.now();
  return ctx.store.transaction(async (tx) => {
    // The user's row first, as every writer of a consent or lineage takes it: a consent being given
    // (its row not yet committed, so not yet there to delete) is waited for, then withdrawn.
    if (!(await tx.holdUser(userId))) return false;
    const consented = (await tx.getConsent(clientId, userId)) !== undefined;
    // The consent before the lineages: a code being issued under it holds its row (issueUnderConsent),
    // so this waits for that lineage and then revokes it with the rest.
    await tx.deleteConsent(clientId, userId);
    const revoked = await tx.revokeGrantsOf(clientId, userId, now);
    return revoked > 0 || consented;
  });
}
