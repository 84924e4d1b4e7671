import type { CoreContext } from "../context.js";
import { fail, ok, type Result } from "../errors.js";
import { verifierMatches } from "../pkce.js";
import { issueTokens } from "./issue-tokens.js";
import type { GrantHandler, IssuedTokens, TokenRequest } from "./types.js";

/**
 * RFC 6749 §4.1.3 with RFC 7636: the code is single-use and bound to its client, redirect URI,
 * PKCE challenge, scopes and user. A second use revokes everything its lineage issued.
 */
export const authorizationCodeGrant: GrantHandler = {
  grantType: "authorization_code",

  async handle(ctx: CoreContext, request: TokenRequest): Promise<Result<IssuedTokens>> {
    if (!request.code) return fail("invalid_request", "code is required");
    const code = request.code;
    return ctx.store.transaction(async (tx): Promise<Result<IssuedTokens>> => {
      const outcome = await tx.redeemAuthorizationCode(ctx.keys.hashToken(code), request.client.id, ctx.now());
      if (outcome.status === "reused") {
        await tx.revokeGrant(outcome.code.grantId, ctx.now());
        return fail("invalid_grant", "Authorization code has already been used");
      }
      if (outcome.status === "expired") return fail("invalid_grant", "Authorization code has expired");
      if (outcome.status !== "redeemed") return fail("invalid_grant", "Invalid authorization code");
      const { code: record, grant } = outcome;
      if (record.codeChallenge === null) {
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge signals a downgrade.
        if (request.codeVerifier !== undefined) return fail("invalid_grant", "code_verifier was not expected");
      } else if (request.codeVerifier === undefined) {
        return fail("invalid_grant", "code_verifier is required");
      } else if (!verifierMatches(request.codeVerifier, record.codeChallenge)) {
        return fail("invalid_grant", "code_verifier does not match the code_challenge");
      }
      const redirectUriRequired = record.redirectUriExplicit || request.redirectUri !== undefined;
      if (redirectUriRequired && request.redirectUri !== record.redirectUri) {
        return fail("invalid_grant", "redirect_uri does not match the authorization request");
      }
      const tokens = await issueTokens(ctx, tx, request.format, {
        clientId: record.clientId,
        userId: record.userId,
        grantId: grant.id,
        accessScopes: record.scopes,
        refreshScopes: record.scopes,
        rotation: false,
      });
      return ok(tokens);
    });
  },
};
