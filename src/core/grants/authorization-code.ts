import type { AuthorizationCodeRecord } from "../../store/types.js";
import type { CoreContext } from "../context.js";
import { fail, ok, type Result, type SecurityEvent } from "../errors.js";
import { verifierMatches } from "../pkce.js";
import { NO_SCOPE_LEFT, stillAllowed } from "../scopes.js";
import { mintTokens, revokeReusedLineage, spendOrRevokeLineage } from "./issue-tokens.js";
import type { GrantHandler, IssuedTokens, TokenRequest } from "./types.js";

/** Checks what the token request must repeat from the authorization request. */
function bindingRefusal(code: AuthorizationCodeRecord, request: TokenRequest): Result<never> | undefined {
  if (code.codeChallenge === null) {
    // RFC 9700 §2.1.1: a verifier for a code issued without a challenge signals a downgrade.
    if (request.codeVerifier !== undefined) return fail("invalid_grant", "code_verifier was not expected");
  } else if (request.codeVerifier === undefined) {
    return fail("invalid_grant", "code_verifier is required");
  } else if (!verifierMatches(request.codeVerifier, code.codeChallenge)) {
    return fail("invalid_grant", "code_verifier does not match the code_challenge");
  }
  const redirectUriRequired = code.redirectUriExplicit || request.redirectUri !== undefined;
  if (redirectUriRequired && request.redirectUri !== code.redirectUri) {
    return fail("invalid_grant", "redirect_uri does not match the authorization request");
  }
  return undefined;
}

/** The answer to a code that cannot be spent, whether the first read or the spending found out. */
function codeRefusal(status: "reused" | "expired" | "revoked" | "unknown", event?: SecurityEvent): Result<never> {
  if (status === "reused") return fail("invalid_grant", "Authorization code has already been used", event);
  if (status === "expired") return fail("invalid_grant", "Authorization code has expired");
  return fail("invalid_grant", "Invalid authorization code");
}

/**
 * RFC 6749 §4.1.3 with RFC 7636: the code is single-use and bound to its client, redirect URI,
 * PKCE challenge, scopes and user. A second use revokes everything its lineage issued.
 *
 * The code is read first and the tokens minted from it; one atomic write then spends the
 * code and stores the tokens, or stores nothing if another request spent it in between.
 */
export const authorizationCodeGrant: GrantHandler = {
  grantType: "authorization_code",

  async handle(ctx: CoreContext, request: TokenRequest): Promise<Result<IssuedTokens>> {
    if (!request.code) return fail("invalid_request", "code is required");
    const now = ctx.now();
    const hash = ctx.keys.hashToken(request.code);
    const code = await ctx.store.findAuthorizationCode(hash);
    if (!code || code.clientId !== request.client.id) return codeRefusal("unknown");
    if (code.consumedAt !== null) {
      return codeRefusal("reused", await revokeReusedLineage(ctx, "authorization_code_reused", code, now));
    }
    if (code.expiresAt <= now) return codeRefusal("expired");
    const refusal = bindingRefusal(code, request);
    if (refusal) return refusal;
    const scopes = stillAllowed(code.scopes, request.client.scopes);
    if (scopes.length === 0) return fail("invalid_grant", NO_SCOPE_LEFT);

    const minted = await mintTokens(ctx, request.format, {
      clientId: code.clientId,
      userId: code.userId,
      grantId: code.grantId,
      accessScopes: scopes,
      refreshScopes: scopes,
      rotation: false,
      now,
    });
    const outcome = await spendOrRevokeLineage(ctx, "authorization_code_reused", code, now, () =>
      ctx.store.exchangeAuthorizationCode(hash, code.clientId, now, minted.records),
    );
    return outcome.status === "redeemed" ? ok(minted.issued) : codeRefusal(outcome.status, outcome.event);
  },
};
