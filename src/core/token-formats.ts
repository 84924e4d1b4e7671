import { orderedToken, randomToken } from "./crypto.js";
import { type Es256Signer, HeaderEncoder, signOnThreadPool, signWithEncodedHeader } from "./jws.js";
import { type KeyRing, SIGNING_ALG } from "./signing-keys.js";
import { seconds } from "./time.js";

export interface IssueContext {
  issuer: string;
  clientId: string;
  /** The user's pairwise id for this client. */
  subject: string;
  scopes: readonly string[];
  now: number;
  /** True when the tokens replace a refresh token rather than answer a code. */
  rotation: boolean;
}

export interface MintedToken {
  value: string;
  jti: string;
  expiresAt: number;
}

/**
 * How one dialect's tokens look on the wire. The core decides what is issued and stores only
 * keyed hashes of what a format mints; a format decides only the shape and lifetimes.
 */
export interface TokenFormat {
  readonly name: string;
  readonly accessTtlMs: number;
  readonly refreshTtlMs: number;
  mintAccess(ctx: IssueContext): Promise<MintedToken>;
  mintRefresh(ctx: IssueContext): Promise<MintedToken>;
}

/** Canva Connect: RFC 9068 JWT access tokens with Canva's claims, opaque refresh tokens. */
export class CanvaTokenFormat implements TokenFormat {
  readonly name = "canva";
  private readonly headers = new HeaderEncoder(SIGNING_ALG, "at+jwt");

  constructor(
    private readonly keyRing: KeyRing,
    readonly accessTtlMs: number,
    readonly refreshTtlMs: number,
    private readonly signer: Es256Signer = signOnThreadPool,
  ) {}

  async mintAccess(ctx: IssueContext): Promise<MintedToken> {
    const key = this.keyRing.current();
    // First in the payload, where `ServerKeys.hashToken` finds it without parsing the token.
    const jti = orderedToken(ctx.now, 16);
    const expiresAt = ctx.now + this.accessTtlMs;
    const value = await signWithEncodedHeader(
      this.headers.encode(key.kid),
      {
        jti,
        client_id: ctx.clientId,
        client: ctx.clientId,
        scope: ctx.scopes.join(" "),
        iss: ctx.issuer,
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
    return { value: orderedToken(ctx.now), jti: randomToken(16), expiresAt: ctx.now + this.refreshTtlMs };
  }
}

/**
 * Cal.com platform OAuth: both tokens are JWTs carrying `type`, `clientId`, `ownerId`,
 * `expiresAt` (milliseconds) and, on refreshed tokens, `userId`. A 256-bit `jti` keeps each
 * token unguessable on its own; validity is always decided by the stored keyed hash.
 */
export class CalTokenFormat implements TokenFormat {
  readonly name = "cal";
  private readonly headers = new HeaderEncoder(SIGNING_ALG, "JWT");

  constructor(
    private readonly keyRing: KeyRing,
    readonly accessTtlMs: number,
    readonly refreshTtlMs: number,
    private readonly signer: Es256Signer = signOnThreadPool,
  ) {}

  mintAccess(ctx: IssueContext): Promise<MintedToken> {
    return this.mint(ctx, "access_token", ctx.now + this.accessTtlMs);
  }

  mintRefresh(ctx: IssueContext): Promise<MintedToken> {
    return this.mint(ctx, "refresh_token", ctx.now + this.refreshTtlMs);
  }

  private async mint(ctx: IssueContext, type: string, expiresAt: number): Promise<MintedToken> {
    const key = this.keyRing.current();
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
