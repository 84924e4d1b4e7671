import type { Store } from "../../store/types.js";
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
}

/** Mints an access and a refresh token for a lineage and stores their keyed hashes through `tx`. */
export async function issueTokens(
  ctx: CoreContext,
  tx: Store,
  format: TokenFormat,
  issuance: Issuance,
): Promise<IssuedTokens> {
  const now = ctx.now();
  const base = {
    issuer: ctx.issuer,
    clientId: issuance.clientId,
    subject: ctx.keys.pairwiseId(issuance.clientId, issuance.userId),
    now,
    rotation: issuance.rotation,
  };
  const accessToken = await format.mintAccess({ ...base, scopes: issuance.accessScopes });
  const refreshToken = await format.mintRefresh({ ...base, scopes: issuance.refreshScopes });
  const common = {
    grantId: issuance.grantId,
    clientId: issuance.clientId,
    userId: issuance.userId,
    createdAt: now,
    consumedAt: null,
  };
  await tx.saveTokens([
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
  ]);
  return { accessToken, refreshToken, scopes: [...issuance.accessScopes] };
}
