import type { CoreContext } from "../context.js";
import { fail, ok, type Result } from "../errors.js";
import { isSubset, missingScopes, parseScope } from "../scopes.js";
import { issueTokens } from "./issue-tokens.js";
import type { GrantHandler, IssuedTokens, TokenRequest } from "./types.js";

/** Thrown inside a transaction to undo it while still answering with an error value. */
class Refusal extends Error {
  constructor(readonly result: Result<never>) {
    super("refused");
  }
}

/**
 * RFC 6749 §6 with rotation on every use (RFC 9700 §4.14.2): the presented token is consumed and
 * a new one issued; presenting a consumed token again revokes the lineage. A requested scope may
 * only narrow the access token; the new refresh token keeps the original scope.
 */
export const refreshTokenGrant: GrantHandler = {
  grantType: "refresh_token",

  async handle(ctx: CoreContext, request: TokenRequest): Promise<Result<IssuedTokens>> {
    if (!request.refreshToken) return fail("invalid_request", "refresh_token is required");
    const presented = request.refreshToken;
    const requested = request.scope === undefined ? undefined : parseScope(request.scope);
    try {
      return await ctx.store.transaction(async (tx): Promise<Result<IssuedTokens>> => {
        const outcome = await tx.consumeRefreshToken(ctx.keys.hashToken(presented), request.client.id, ctx.now());
        if (outcome.status === "reused") {
          await tx.revokeGrant(outcome.token.grantId, ctx.now());
          return fail("invalid_grant", "Invalid refresh token");
        }
        if (outcome.status === "expired") return fail("invalid_grant", "Refresh token has expired");
        if (outcome.status !== "consumed") return fail("invalid_grant", "Invalid refresh token");
        const token = outcome.token;
        const accessScopes = requested && requested.length > 0 ? requested : token.scopes;
        if (!isSubset(accessScopes, token.scopes)) {
          const extra = missingScopes(accessScopes, token.scopes).join(" ");
          throw new Refusal(fail("invalid_scope", `Scope exceeds what was granted: ${extra}`));
        }
        const tokens = await issueTokens(ctx, tx, request.format, {
          clientId: token.clientId,
          userId: token.userId,
          grantId: token.grantId,
          accessScopes,
          refreshScopes: token.scopes,
          rotation: true,
        });
        return ok(tokens);
      });
    } catch (error) {
      if (error instanceof Refusal) return error.result;
      throw error;
    }
  },
};
