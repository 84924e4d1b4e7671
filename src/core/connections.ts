import { holdUserAndClient } from "./authorization.js";
import type { CoreContext } from "./context.js";
import { stillAllowed } from "./scopes.js";

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
      // What it may still do: a scope taken from the client since is not the user's to grant any more.
      scopes: stillAllowed(consent.scopes, client.scopes),
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
    // The user's and the client's rows first, as every writer of a consent or lineage takes them:
    // an approval in flight (its consent and lineage not yet committed, so not yet there to
    // withdraw) is waited for, then withdrawn with the rest. Then lineages before the consent, the
    // order deleting the client and revoking a refresh token take them in.
    if (!(await holdUserAndClient(tx, userId, clientId))) return false;
    const revoked = await tx.revokeGrantsOf(clientId, userId, now);
    const consented = (await tx.getConsent(clientId, userId)) !== undefined;
    await tx.deleteConsent(clientId, userId);
    return revoked > 0 || consented;
  });
}
