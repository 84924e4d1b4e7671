import type { IssuedTokens } from "../../core/grants/types.js";

/**
 * The 200 body of exchange and refresh, for Fastify's serializer (see canva/response-schemas.ts):
 * the tokens are copied rather than escaped character by character. Lists every field sent.
 */
export const KEYS_RESPONSE = {
  200: {
    type: "object",
    properties: {
      status: { type: "string" },
      data: {
        type: "object",
        properties: {
          accessToken: { type: "string" },
          accessTokenExpiresAt: { type: "integer" },
          refreshToken: { type: "string" },
          refreshTokenExpiresAt: { type: "integer" },
        },
      },
    },
  },
} as const;

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
