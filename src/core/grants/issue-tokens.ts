import type { Store, TokenRecord } from "../../store/types.js";
import type { CoreContext } from "../context.js";
import type { TokenFormat } from "../token-formats.js";
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
  /** The keyed-hash records to store in the same transaction that spends the code or refresh token. */
  records: TokenRecord[];
}

/**
 * Mints an access and a refresh token for a lineage without touching the store. Grants mint before
 * their transaction opens, so signing never holds a database connection or SQLite's write lock.
 */
export async function mintTokens(ctx: CoreContext, format: TokenFormat, issuance: Issuance): Promise<MintedPair> {
  const { now } = issuance;
  const base = {
    issuer: ctx.issuer,
    clientId: issuance.clientId,
    subject: ctx.keys.pairwiseId(issuance.clientId, issuance.userId),
    now,
    rotation: issuance.rotation,
  };
  const [accessToken, refreshToken] = await Promise.all([
    format.mintAccess({ ...base, scopes: issuance.accessScopes }),
    format.mintRefresh({ ...base, scopes: issuance.refreshScopes }),
  ]);
  const common = {
    grantId: issuance.grantId,
    clientId: issuance.clientId,
    userId: issuance.userId,
    createdAt: now,
    consumedAt: null,
  };
  return {
    issued: { accessToken, refreshToken, scopes: [...issuance.accessScopes] },
    records: [
      {
        ...common,
        hash: ctx.keys.hashToken(accessToken.value),
        kind: "access",
        jti: accessToken.jti,
        scopes: [...issuance.accessScopes],
        expiresAt: accessToken.expiresAt,
      },
      {
        ...common,
        hash: ctx.keys.hashToken(refreshToken.value),
        kind: "refresh",
        jti: refreshToken.jti,
        scopes: [...issuance.refreshScopes],
        expiresAt: refreshToken.expiresAt,
      },
    ],
  };
}

/**
 * The one short transaction every grant ends with: `spend` marks the code or refresh token used,
 * and only if that succeeded (`spent`) are the minted tokens stored. A second use revokes the
 * lineage. Returns how spending went.
 */
export function spendAndStore<Status extends string>(
  ctx: CoreContext,
  minted: MintedPair,
  grantId: string,
  now: number,
  spent: Status,
  spend: (tx: Store) => Promise<{ status: Status | "reused" }>,
): Promise<Status | "reused"> {
  return ctx.store.transaction(async (tx) => {
    const { status } = await spend(tx);
    if (status === spent) await tx.saveTokens(minted.records);
    if (status === "reused") await tx.revokeGrant(grantId, now);
    return status;
  });
}
