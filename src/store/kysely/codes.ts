/** Authorization codes: issued, looked up, redeemed alone or exchanged for tokens together. */
import { redeemCodeQuery, spentOne } from "../queries.js";
import { joinScopes, toCode } from "../records.js";
import type { AuthorizationCodeRecord, RedeemOutcome, TokenRecord } from "../types.js";
import type { KyselyContext } from "./context.js";
import { spendAndSave } from "./tokens.js";

export async function createAuthorizationCode(cx: KyselyContext, code: AuthorizationCodeRecord): Promise<void> {
  await cx.db
    .insertInto("authorization_codes")
    .values({
      hash: code.hash,
      grant_id: code.grantId,
      client_id: code.clientId,
      user_id: code.userId,
      redirect_uri: code.redirectUri,
      redirect_uri_explicit: code.redirectUriExplicit ? 1 : 0,
      code_challenge: code.codeChallenge,
      scopes: joinScopes(code.scopes),
      created_at: code.createdAt,
      expires_at: code.expiresAt,
      consumed_at: code.consumedAt,
    })
    .execute();
}

export async function hasOutstandingCodeWithoutPkce(
  cx: KyselyContext,
  clientId: string,
  userId: string,
  now: number,
): Promise<boolean> {
  const row = await cx.db
    .selectFrom("authorization_codes")
    .select("hash")
    .where("client_id", "=", clientId)
    .where("user_id", "=", userId)
    .where("consumed_at", "is", null)
    .where("expires_at", ">", now)
    .where("code_challenge", "is", null)
    .executeTakeFirst();
  return row !== undefined;
}

export async function findAuthorizationCode(
  cx: KyselyContext,
  hash: string,
): Promise<AuthorizationCodeRecord | undefined> {
  const { rows } = await cx.run(
    "findAuthorizationCode",
    (db, codeHash: string) =>
      db
        .selectFrom("authorization_codes")
        .select([
          "grant_id",
          "client_id",
          "user_id",
          "redirect_uri",
          "redirect_uri_explicit",
          "code_challenge",
          "scopes",
          "created_at",
          "expires_at",
          "consumed_at",
        ])
        .where("hash", "=", codeHash),
    hash,
  );
  return rows[0] && toCode(hash, rows[0]);
}

export async function redeemAuthorizationCode(
  cx: KyselyContext,
  hash: string,
  clientId: string,
  now: number,
): Promise<RedeemOutcome> {
  const result = await cx.run("redeemAuthorizationCode", redeemCodeQuery, hash, clientId, now);
  if (spentOne(result)) return { status: "redeemed" };
  return whyNotRedeemed(cx, hash, clientId, now);
}

export async function exchangeAuthorizationCode(
  cx: KyselyContext,
  hash: string,
  clientId: string,
  now: number,
  tokens: TokenRecord[],
): Promise<RedeemOutcome> {
  return spendAndSave(cx, "redeemAuthorizationCode", redeemCodeQuery, hash, clientId, now, tokens, [], {
    spent: { status: "redeemed" },
    whyNot: (inner) => whyNotRedeemed(inner, hash, clientId, now),
  });
}

/** Why the client's code could not be redeemed. */
async function whyNotRedeemed(cx: KyselyContext, hash: string, clientId: string, now: number): Promise<RedeemOutcome> {
  const code = await findAuthorizationCode(cx, hash);
  if (!code || code.clientId !== clientId) return { status: "unknown" };
  if (code.consumedAt !== null) return { status: "reused", code };
  if (code.expiresAt <= now) return { status: "expired" };
  return { status: "revoked" };
}
