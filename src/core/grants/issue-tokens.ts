import type { TokenKind, TokenRecord } from "../../store/types.js";
import type { CoreContext } from "../context.js";
import type { SecurityEvent } from "../errors.js";
import type { MintedToken, TokenFormat } from "../token-formats.js";
import type { IssuedTokens } from "./types.js";

export interface Issuance {
  clientId: string;
  userId: string;
  grantId: string;
  accessScopes: readonly string[];
  refreshScopes: readonly string[];
  rotation: boolean;
  /** The request's time: the tokens' issue time, and when the code or refresh token is spent. */
  now: number;
}

export interface MintedPair {
  issued: IssuedTokens;
  /** The keyed-hash records to store together with spending the code or refresh token. */
  records: TokenRecord[];
}

/**
 * Mints an access and a refresh token for a lineage without touching the store. Grants mint before
 * they write, so signing never holds a database connection or SQLite's write lock.
 */
export async function mintTokens(ctx: CoreContext, format: TokenFormat, issuance: Issuance): Promise<MintedPair> {
  const { issuer } = ctx;
  const { clientId, now, rotation } = issuance;
  const subject = ctx.keys.pairwiseId(clientId, issuance.userId);
  // Object literals spelled out rather than spread from a common base: a spread object gets a
  // fresh hidden class, and the properties added after it then miss V8's inline caches on every call.
  const [accessToken, refreshToken] = await Promise.all([
    format.mintAccess({ issuer, clientId, subject, now, rotation, scopes: issuance.accessScopes }),
    format.mintRefresh({ issuer, clientId, subject, now, rotation, scopes: issuance.refreshScopes }),
  ]);
  return {
    issued: { accessToken, refreshToken, scopes: [...issuance.accessScopes] },
    records: [
      tokenRecord(ctx.keys.hashToken(accessToken.value), "access", accessToken, issuance.accessScopes, issuance),
      tokenRecord(ctx.keys.hashToken(refreshToken.value), "refresh", refreshToken, issuance.refreshScopes, issuance),
    ],
  };
}

function tokenRecord(
  hash: string,
  kind: TokenKind,
  token: MintedToken,
  scopes: readonly string[],
  issuance: Issuance,
): TokenRecord {
  return {
    hash,
    kind,
    jti: token.jti,
    grantId: issuance.grantId,
    clientId: issuance.clientId,
    userId: issuance.userId,
    scopes: [...scopes],
    createdAt: issuance.now,
    expiresAt: token.expiresAt,
    consumedAt: null,
  };
}

/** The lineage a code or refresh token belongs to, and whose it is. */
export interface LineageOwner {
  grantId: string;
  clientId: string;
  userId: string;
}

/**
 * A second use of a code or refresh token revokes its lineage. Reported only by the request that
 * revoked it, so replaying a dead token does not flood the log.
 */
export async function revokeReusedLineage(
  ctx: CoreContext,
  kind: SecurityEvent["kind"],
  lineage: LineageOwner,
  now: number,
): Promise<SecurityEvent | undefined> {
  const revoked = await ctx.store.revokeGrant(lineage.grantId, now);
  return revoked ? { kind, clientId: lineage.clientId, userId: lineage.userId } : undefined;
}

/**
 * How every grant ends: `spend` marks the code or refresh token used and, only if that succeeded,
 * stores the minted tokens, together or not at all (`Store.exchangeAuthorizationCode`,
 * `Store.rotateRefreshToken`). A second use then revokes the lineage. Returns how spending went.
 */
export async function spendOrRevokeLineage<Status extends string>(
  ctx: CoreContext,
  kind: SecurityEvent["kind"],
  lineage: LineageOwner,
  now: number,
  spend: () => Promise<{ status: Status | "reused" }>,
): Promise<{ status: Status | "reused"; event?: SecurityEvent }> {
  const { status } = await spend();
  if (status !== "reused") return { status };
  return { status, event: await revokeReusedLineage(ctx, kind, lineage, now) };
}
