import type { CoreContext } from "./context.js";
import { fail, type Result } from "./errors.js";
import { authorizationCodeGrant } from "./grants/authorization-code.js";
import { refreshTokenGrant } from "./grants/refresh-token.js";
import type { GrantHandler, IssuedTokens, TokenRequest } from "./grants/types.js";

const handlers = new Map<string, GrantHandler>(
  [authorizationCodeGrant, refreshTokenGrant].map((handler) => [handler.grantType, handler]),
);

export const SUPPORTED_GRANT_TYPES = [...handlers.keys()];

/** Dispatches a token request to its grant handler. */
export function exchange(
  ctx: CoreContext,
  grantType: string | undefined,
  request: TokenRequest,
): Promise<Result<IssuedTokens>> {
  if (!grantType) return Promise.resolve(fail("invalid_request", "grant_type is required"));
  const handler = handlers.get(grantType);
  if (!handler) return Promise.resolve(fail("unsupported_grant_type", `Unsupported grant_type: ${grantType}`));
  return handler.handle(ctx, request);
}
