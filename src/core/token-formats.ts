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
  mintAccess(ctx: IssueContext): Promise<MintedToken>;
  mintRefresh(ctx: IssueContext): Promise<MintedToken>;
}
