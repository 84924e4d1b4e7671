import type { ClientRecord } from "../../store/types.js";
import type { CoreContext } from "../context.js";
import type { Result, SecurityEvent } from "../errors.js";
import type { MintedToken, TokenFormat } from "../token-formats.js";

/** A token request after the dialect has parsed it and authenticated the client. */
export interface TokenRequest {
  client: ClientRecord;
  format: TokenFormat;
  code?: string;
  codeVerifier?: string;
  redirectUri?: string;
  refreshToken?: string;
  scope?: string;
}

export interface IssuedTokens {
  accessToken: MintedToken;
  refreshToken: MintedToken;
  /** The access token's scopes. */
  scopes: string[];
  /** Set when the tokens answer a refresh again (see `refreshTokenGrant`), for the operator's log. */
  event?: SecurityEvent;
}

/** One grant type. The token endpoint dispatches on `grantType`. */
export interface GrantHandler {
  readonly grantType: string;
  handle(ctx: CoreContext, request: TokenRequest): Promise<Result<IssuedTokens>>;
}
