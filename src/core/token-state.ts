import type { ClientRecord, TokenWithGrant } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { fail, ok, type Result } from "./errors.js";

/** The longest token a client may present anywhere; longer input is refused before hashing. */
const MAX_TOKEN_LENGTH = 4096;

export type TokenState = "active" | "expired" | "revoked" | "consumed";

function stateOf(token: TokenWithGrant, now: number): TokenState {
  if (token.grantRevokedAt !== null) return "revoked";
  if (token.consumedAt !== null) return "consumed";
  if (token.expiresAt <= now) return "expired";
  return "active";
}

/** Whether a presented value could be a token at all; anything else is refused before hashing. */
const presentable = (value: string) => value.length > 0 && value.length <= MAX_TOKEN_LENGTH;

async function findTokenByValue(ctx: CoreContext, value: string): Promise<TokenWithGrant | undefined> {
  if (!presentable(value)) return undefined;
  return ctx.store.findToken(ctx.keys.hashToken(value));
}

/** What introspection found, before a dialect words it: a live token of the asking client and its user's pairwise id. */
export type Introspection = { active: false } | { active: true; token: TokenWithGrant; subject: string };

const INACTIVE: Introspection = { active: false };

/** RFC 7662: only a live token issued to the asking client is active; anything else is just inactive. */
export async function introspect(ctx: CoreContext, client: ClientRecord, value: string): Promise<Introspection> {
  const token = await findTokenByValue(ctx, value);
  if (!token || token.clientId !== client.id || stateOf(token, ctx.now()) !== "active") return INACTIVE;
  return { active: true, token, subject: ctx.keys.pairwiseId(token.clientId, token.userId) };
}

/**
 * Revokes what a token issued to `client` stands for. An access token: its lineage. A refresh token:
 * the user's consent to the client, so every lineage of that user with the client, and the next
 * authorization asks again. Idempotent.
 */
export async function revoke(ctx: CoreContext, client: ClientRecord, value: string): Promise<Result<true>> {
  const known = presentable(value) && (await ctx.store.revokeToken(ctx.keys.hashToken(value), client.id, ctx.now()));
  return known ? ok(true) : fail("invalid_token", "Token is neither an access or refresh token");
}

export type BearerCheck = { status: "valid"; token: TokenWithGrant } | { status: "invalid" } | { status: "revoked" };

/** Decides whether a bearer access token may be used at a resource endpoint. */
export async function checkAccessToken(ctx: CoreContext, value: string): Promise<BearerCheck> {
  const token = await findTokenByValue(ctx, value);
  if (token?.kind !== "access") return { status: "invalid" };
  const state = stateOf(token, ctx.now());
  // An access token is spent only when a refresh is answered again (see `refreshTokenGrant`): withdrawn, like a revoked one.
  if (state === "revoked" || state === "consumed") return { status: "revoked" };
  if (state !== "active") return { status: "invalid" };
  return { status: "valid", token };
}
