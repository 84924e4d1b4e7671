import { orderedToken, type ServerKeys } from "../../core/crypto.js";
import {
  type Es256Signer,
  encodeJson,
  HeaderEncoder,
  signOnThreadPool,
  signWithEncodedHeader,
} from "../../core/jws.js";
import { type KeyRing, SIGNING_ALG } from "../../core/signing-keys.js";
import { atWholeSecond, seconds } from "../../core/time.js";
import type { IssueContext, MintedToken, TokenFormat } from "../../core/token-formats.js";

/** Refresh tokens are HS256, under a key derived from the server secret (`ServerKeys.calRefreshSignature`). */
const REFRESH_HEADER = encodeJson({ alg: "HS256", typ: "JWT" });

/**
 * Cal.com platform OAuth: both tokens are JWTs carrying `type`, `clientId`, `ownerId`,
 * `expiresAt` (milliseconds) and, on refreshed tokens, `userId`. A 256-bit `jti` keeps each
 * token unguessable on its own; validity is always decided by the stored keyed hash. Access
 * tokens are signed by the published keys, for resource servers; refresh tokens, which only
 * keyward reads, by a secret key, so that a published key verifies no refresh token.
 */
export class CalTokenFormat implements TokenFormat {
  private readonly headers = new HeaderEncoder(SIGNING_ALG, "JWT");

  constructor(
    private readonly keyRing: KeyRing,
    private readonly serverKeys: ServerKeys,
    private readonly accessTtlMs: number,
    private readonly refreshTtlMs: number,
    private readonly signer: Es256Signer = signOnThreadPool,
  ) {}

  async mintAccess(ctx: IssueContext): Promise<MintedToken> {
    const expiresAt = atWholeSecond(ctx.now + this.accessTtlMs);
    const { jti, claims } = payload(ctx, "access_token", expiresAt);
    const key = this.keyRing.current(ctx.now);
    const value = await signWithEncodedHeader(this.headers.encode(key.kid), claims, key.privateKey, this.signer);
    return { value, jti, expiresAt };
  }

  async mintRefresh(ctx: IssueContext): Promise<MintedToken> {
    const expiresAt = atWholeSecond(ctx.now + this.refreshTtlMs);
    const { jti, claims } = payload(ctx, "refresh_token", expiresAt);
    const input = `${REFRESH_HEADER}.${encodeJson(claims)}`;
    return { value: `${input}.${this.serverKeys.calRefreshSignature(input)}`, jti, expiresAt };
  }
}

function payload(ctx: IssueContext, type: string, expiresAt: number) {
  // First in the payload, where `ServerKeys.hashToken` finds it without parsing the token.
  const jti = orderedToken(ctx.now, 32);
  const { clientId, subject, issuer } = ctx;
  const iat = seconds(ctx.now);
  const exp = seconds(expiresAt);
  const claims = ctx.rotation
    ? { jti, type, clientId, ownerId: subject, expiresAt, userId: subject, iss: issuer, iat, exp }
    : { jti, type, clientId, ownerId: subject, expiresAt, iss: issuer, iat, exp };
  return { jti, claims };
}
