import { newGrantId } from "../../src/core/authorization.js";
import { randomToken } from "../../src/core/crypto.js";
import type { GrantRecord, TokenRecord } from "../../src/store/types.js";

/** The lineage every token of a check belongs to. */
export function checkGrant(now: number): GrantRecord {
  return {
    id: newGrantId(now),
    clientId: "OC-check",
    userId: "user",
    scopes: ["profile:read"],
    createdAt: now,
    revokedAt: null,
  };
}

/** A live token of `grant` stored under `key`. */
export function checkToken(grant: GrantRecord, key: string, kind: TokenRecord["kind"], now: number): TokenRecord {
  return {
    hash: key,
    kind,
    jti: randomToken(16),
    grantId: grant.id,
    clientId: grant.clientId,
    userId: grant.userId,
    scopes: grant.scopes,
    createdAt: now,
    expiresAt: now + 86_400_000,
    consumedAt: null,
  };
}
