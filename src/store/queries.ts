/** The query builders the store shares between its methods and between SQLite and PostgreSQL. */
import { type Expression, type QueryCreator, type QueryResult, sql } from "kysely";
import type { Database } from "./schema.js";
import type { TokenRecord } from "./types.js";

/** The secret check's one row. */
export const SECRET_CHECK_ID = "server";

/**
 * Whether text could be stored at all: PostgreSQL refuses a NUL character in any text value, so no
 * row can hold one, and a lookup by a presented id or email that has one finds nothing on any engine.
 */
export const storable = (text: string) => !text.includes("\u0000");

/** The refresh token among a rotation's new tokens, which the spent one names as its successor. */
export const successorOf = (tokens: TokenRecord[]): string | null =>
  tokens.find((token) => token.kind === "refresh")?.hash ?? null;

/** Whether an update marked one row spent. Nothing is read back: the caller read the row before. */
export const spentOne = (result: QueryResult<unknown>) => (result.numAffectedRows ?? 0n) > 0n;

/** True where the row's lineage (its grant) exists and is not revoked. */
export const inLiveLineage = (grantColumn: "authorization_codes.grant_id" | "tokens.grant_id") =>
  sql<boolean>`exists (select 1 from grants where grants.id = ${sql.ref(grantColumn)} and grants.revoked_at is null)`;

/** Marks a live, unexpired code of `client` spent; exported so a test can read its plan. */
export const redeemCodeQuery = (db: QueryCreator<Database>, codeHash: string, client: string, at: number) =>
  db
    .updateTable("authorization_codes")
    .set({ consumed_at: at })
    .where("hash", "=", codeHash)
    .where("client_id", "=", client)
    .where("consumed_at", "is", null)
    .where("expires_at", ">", at)
    .where(inLiveLineage("authorization_codes.grant_id"));

/** Marks a live, unexpired refresh token of `client` spent, and names the refresh token that replaces it. */
export const consumeRefreshQuery = (
  db: QueryCreator<Database>,
  tokenHash: string,
  client: string,
  at: number,
  successor: string | null,
) =>
  db
    .updateTable("tokens")
    .set({ consumed_at: at, successor })
    .where("hash", "=", tokenHash)
    .where("client_id", "=", client)
    .where("kind", "=", "refresh")
    .where("consumed_at", "is", null)
    .where("expires_at", ">", at)
    .where(inLiveLineage("tokens.grant_id"));

/**
 * A value, or an expression standing for one: a named parameter bound from a write-thread group's
 * leading row (SQLite), or a scalar subquery (PostgreSQL's one-statement revocation).
 */
export type Operand = string | Expression<string>;

export const revokeGrantQuery = (db: QueryCreator<Database>, id: Operand, at: number) =>
  db.updateTable("grants").set({ revoked_at: at }).where("id", "=", id).where("revoked_at", "is", null);

/** Revokes every live lineage of the user with the client. */
export const revokeGrantsOfQuery = (db: QueryCreator<Database>, client: string, user: Operand, at: number) =>
  db
    .updateTable("grants")
    .set({ revoked_at: at })
    .where("client_id", "=", client)
    .where("user_id", "=", user)
    .where("revoked_at", "is", null);

export const deleteConsentQuery = (db: QueryCreator<Database>, client: string, user: Operand) =>
  db.deleteFrom("consents").where("client_id", "=", client).where("user_id", "=", user);

/** The user's consent to the client, columns to be selected: one row or none. */
export const consentQuery = (db: QueryCreator<Database>, client: string, user: Operand) =>
  db.selectFrom("consents").where("client_id", "=", client).where("user_id", "=", user);

/** As revokeGrantsOfQuery, while the user has no consent to the client. */
export const revokeGrantsOfUnconsentedQuery = (db: QueryCreator<Database>, client: string, user: string, at: number) =>
  revokeGrantsOfQuery(db, client, user, at).where(({ not, exists }) =>
    not(exists(consentQuery(db, client, user).select("user_id"))),
  );

/**
 * PostgreSQL only: the transaction that wrote the row version read, which changes with every
 * update, even one that sets a column to itself.
 */
export const ROW_VERSION = sql<string>`xmin::text`;

/**
 * The client's token with this hash, as what revoking it touches: the grant of an access token,
 * the user of a refresh token (the other is null). One row or none.
 */
export const tokenToRevokeQuery = (db: QueryCreator<Database>, tokenHash: string, client: string) =>
  db
    .selectFrom("tokens")
    .select((eb) => [
      eb.case().when("kind", "=", "access").then(eb.ref("grant_id")).end().as("access_grant"),
      eb.case().when("kind", "=", "refresh").then(eb.ref("user_id")).end().as("refresh_user"),
    ])
    .where("hash", "=", tokenHash)
    .where("client_id", "=", client);

/** Names `tokenToRevokeQuery`'s columns in a statement that follows it in a write-thread group. */
export const leadingRow = (column: "access_grant" | "refresh_user") => sql.raw<string>(`@${column}`);

/**
 * The column of the client's token of this kind, as a scalar subquery (null when there is none),
 * for the writes of PostgreSQL's one-statement revocation.
 */
export const ofTokenOfKind = <Column extends "grant_id" | "user_id">(
  db: QueryCreator<Database>,
  column: Column,
  tokenHash: string,
  client: string,
  kind: TokenRecord["kind"],
) =>
  db
    .selectFrom("tokens")
    .select(column)
    .where("hash", "=", tokenHash)
    .where("client_id", "=", client)
    .where("kind", "=", kind)
    .$asScalar();
