import { orderedToken, randomToken } from "../../core/crypto.js";
import { type Es256Signer, HeaderEncoder, signOnThreadPool, signWithEncodedHeader } from "../../core/jws.js";
import { type KeyRing, SIGNING_ALG } from "../../core/signing-keys.js";
import { atWholeSecond, seconds } from "../../core/time.js";
import type { IssueContext, MintedToken, TokenFormat } from "../../core/token-formats.js";

/** Canva Connect: RFC 9068 JWT access tokens with Canva's claims, opaque refresh tokens. */
export class CanvaTokenFormat implements TokenFormat {
  private readonly headers = new HeaderEncoder(SIGNING_ALG, "at+jwt");

  constructor(
    private readonly keyRing: KeyRing,
    private readonly accessTtlMs: number,
    private readonly refreshTtlMs: number,
    /** Whom the access tokens are for: RFC 9068 requires `aud`. */
    private readonly audience: string,
    private readonly signer: Es256Signer = signOnThreadPool,
  ) {}

  async mintAccess(ctx: IssueContext): Promise<MintedToken> {
    const key = this.keyRing.current(ctx.now);
    // First in the payload, where `ServerKeys.hashToken` finds it without parsing the token.
    const jti = orderedToken(ctx.now, 16);
    const expiresAt = atWholeSecond(ctx.now + this.accessTtlMs);
    const value = await signWithEncodedHeader(
      this.headers.encode(key.kid),
      {
        jti,
        client_id: ctx.clientId,
        client: ctx.clientId,
        scope: ctx.scopes.join(" "),
        iss: ctx.issuer,
        aud: this.audience,
        sub: ctx.subject,
        iat: seconds(ctx.now),
        nbf: seconds(ctx.now),
        exp: seconds(expiresAt),
      },
      key.privateKey,
      this.signer,
    );
    return { value, jti, expiresAt };
  }

  async mintRefresh(ctx: IssueContext): Promise<MintedToken> {
    // Introspection states its expiry in whole seconds too.
    const expiresAt = atWholeSecond(ctx.now + this.refreshTtlMs);
    return { value: orderedToken(ctx.now), jti: randomToken(16), expiresAt };
  }
}
