import type { CoreContext } from "../context.js";
import { fail, ok, type Result, type SecurityEvent } from "../errors.js";
import { isSubset, missingScopes, NO_SCOPE_LEFT, parseScope, stillAllowed } from "../scopes.js";
import { mintTokens, revokeReusedLineage, spendOrRevokeLineage } from "./issue-tokens.js";
import type { GrantHandler, IssuedTokens, TokenRequest } from "./types.js";

/** The answer to a refresh token that cannot be spent, whether the first read or the spending found out. */
function tokenRefusal(status: "reused" | "expired" | "revoked" | "unknown", event?: SecurityEvent): Result<never> {
  if (status === "expired") return fail("invalid_grant", "Refresh token has expired");
  return fail("invalid_grant", "Invalid refresh token", event);
}

/**
 * RFC 6749 §6 with rotation on every use (RFC 9700 §4.14.2): the presented token is consumed and
 * a new one issued; presenting a consumed token again revokes the lineage. A requested scope may
 * only narrow the access token; the new refresh token keeps the original scope, less any scope the
 * client has lost since (see `stillAllowed`).
 *
 * With a grace period (`CoreContext.refreshGraceMs`), a consumed token presented again within it,
 * while the tokens its rotation issued are unused, is taken for a client that lost the answer: the
 * rotation is answered again with new tokens, and the ones the lost answer carried stop working.
 * Once the client has used its new refresh token, or after the grace period, it is reuse as above.
 *
 * As with codes, the token is read and the successors minted first; one atomic write then
 * consumes it and stores them, or stores nothing if another request consumed it in between.
 */
export const refreshTokenGrant: GrantHandler = {
  grantType: "refresh_token",

  async handle(ctx: CoreContext, request: TokenRequest): Promise<Result<IssuedTokens>> {
    if (!request.refreshToken) return fail("invalid_request", "refresh_token is required");
    const now = ctx.now();
    const hash = ctx.keys.hashToken(request.refreshToken);
    const token = await ctx.store.findToken(hash);
    if (token?.kind !== "refresh" || token.clientId !== request.client.id) return tokenRefusal("unknown");
    const graceOn = ctx.refreshGraceMs > 0;
    // Without a grace, a spent token is reuse however recently it was spent (even "after" this
    // request began, by another instance's clock or while this one waited for a connection).
    const retry = graceOn && token.consumedAt !== null && now - token.consumedAt <= ctx.refreshGraceMs;
    if (token.consumedAt !== null && !retry) {
      return tokenRefusal("reused", await revokeReusedLineage(ctx, "refresh_token_reused", token, now));
    }
    if (token.grantRevokedAt !== null) return tokenRefusal("revoked");
    if (token.expiresAt <= now) return tokenRefusal("expired");
    const granted = stillAllowed(token.scopes, request.client.scopes);
    if (granted.length === 0) return fail("invalid_grant", NO_SCOPE_LEFT);
    const requested = request.scope === undefined ? undefined : parseScope(request.scope);
    const accessScopes = requested && requested.length > 0 ? requested : granted;
    if (!isSubset(accessScopes, token.scopes)) {
      const extra = missingScopes(accessScopes, token.scopes).join(" ");
      return fail("invalid_scope", `Scope exceeds what was granted: ${extra}`);
    }
    if (!isSubset(accessScopes, granted)) {
      const extra = missingScopes(accessScopes, granted).join(" ");
      return fail("invalid_scope", `Scopes not allowed for this client: ${extra}`);
    }

    const minted = await mintTokens(ctx, request.format, {
      clientId: token.clientId,
      userId: token.userId,
      grantId: token.grantId,
      accessScopes,
      refreshScopes: granted,
      rotation: true,
      now,
    });
    let answeredAgain = retry;
    const outcome = await spendOrRevokeLineage(ctx, "refresh_token_reused", token, now, async () => {
      if (retry) return ctx.store.replaceRotation(hash, token.clientId, now, minted.records);
      const rotated = await ctx.store.rotateRefreshToken(hash, token.clientId, now, minted.records);
      // With a grace, the loser of a race with another presentation of the token is a retry too
      // (a client that timed out and retried at once), if the other spent it within the grace of
      // now: this request may have waited (for a connection, say) since it read the token.
      if (rotated.status !== "reused" || !graceOn) return rotated;
      const spent = await ctx.store.findToken(hash);
      const spentAt = spent?.consumedAt ?? null;
      if (spentAt === null || ctx.now() - spentAt > ctx.refreshGraceMs) return rotated;
      answeredAgain = true;
      return ctx.store.replaceRotation(hash, token.clientId, now, minted.records);
    });
    if (outcome.status !== "consumed") return tokenRefusal(outcome.status, outcome.event);
    if (!answeredAgain) return ok(minted.issued);
    const event: SecurityEvent = { kind: "refresh_token_retried", clientId: token.clientId, userId: token.userId };
    return ok({ ...minted.issued, event });
  },
};
