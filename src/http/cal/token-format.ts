import { orderedToken } from "../../core/crypto.js";
import { type Es256Signer, HeaderEncoder, signOnThreadPool, signWithEncodedHeader } from "../../core/jws.js";
import { type KeyRing, SIGNING_ALG } from "../../core/signing-keys.js";
import { atWholeSecond, seconds } from "../../core/time.js";
import type { IssueContext, MintedToken, TokenFormat } from "../../core/token-formats.js";

/**
 * Cal.com platform OAuth: both tokens are JWTs carrying `type`, `clientId`, `ownerId`,
 * `expiresAt` (milliseconds) and, on refreshed tokens, `userId`. A 256-bit `jti` keeps each
 * token unguessable on its own; validity is always decided by the stored keyed hash.
 */
export class CalTokenFormat implements TokenFormat {
  private readonly headers = new HeaderEncoder(SIGNING_ALG, "JWT");

  constructor(
    private readonly keyRing: KeyRing,
    private readonly accessTtlMs: number,
    private readonly refreshTtlMs: number,
    private readonly signer: Es256Signer = signOnThreadPool,
  ) {}

  mintAccess(ctx: IssueContext): Promise<MintedToken> {
    return this.mint(ctx, "access_token", atWholeSecond(ctx.now + this.accessTtlMs));
  }

  mintRefresh(ctx: IssueContext): Promise<MintedToken> {
    return this.mint(ctx, "refresh_token", atWholeSecond(ctx.now + this.refreshTtlMs));
  }

  private async mint(ctx: IssueContext, type: string, expiresAt: number): Promise<MintedToken> {
    const key = this.keyRing.current(ctx.now);
    // First in the payload, where `ServerKeys.hashToken` finds it without parsing the token.
    const jti = orderedToken(ctx.now, 32);
    const { clientId, subject, issuer } = ctx;
    const iat = seconds(ctx.now);
    const exp = seconds(expiresAt);
    const claims = ctx.rotation
      ? { jti, type, clientId, ownerId: subject, expiresAt, userId: subject, iss: issuer, iat, exp }
      : { jti, type, clientId, ownerId: subject, expiresAt, iss: issuer, iat, exp };
    const value = await signWithEncodedHeader(this.headers.encode(key.kid), claims, key.privateKey, this.signer);
    return { value, jti, expiresAt };
  }
}
