import type { IssuedTokens } from "../../core/grants/types.js";

/** Cal.com's `KeysResponseDto`; expiries in milliseconds, equal to each token's `expiresAt` claim. */
export function keysResponse(tokens: IssuedTokens) {
  return {
    status: "success",
    data: {
      accessToken: tokens.accessToken.value,
      accessTokenExpiresAt: tokens.accessToken.expiresAt,
      refreshToken: tokens.refreshToken.value,
      refreshTokenExpiresAt: tokens.refreshToken.expiresAt,
    },
  };
}
