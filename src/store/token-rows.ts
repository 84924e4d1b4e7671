/** Token rows written several at once: their columns, their values laid end to end, and the rows built from them. */
import { type Insertable, type Selectable, sql } from "kysely";
import { joinScopes } from "./records.js";
import type { Database } from "./schema.js";
import type { TokenRecord } from "./types.js";

/** A token row as read: its key is given apart, and its successor is read only to answer a rotation again. */
export type TokenFields = Omit<Selectable<Database["tokens"]>, "hash" | "successor">;

export const TOKEN_COLUMNS = [
  "hash",
  "kind",
  "jti",
  "grant_id",
  "client_id",
  "user_id",
  "scopes",
  "created_at",
  "expires_at",
  "consumed_at",
] as const;

export const TOKEN_FIELDS = TOKEN_COLUMNS.filter((column) => column !== "hash") as Exclude<
  (typeof TOKEN_COLUMNS)[number],
  "hash"
>[];

/** Tokens' column values laid end to end, in TOKEN_COLUMNS order. */
export function tokenValues(tokens: TokenRecord[]): unknown[] {
  // A loop rather than flatMap, which V8 runs as a slow generic builtin.
  const values: unknown[] = [];
  for (const t of tokens) {
    values.push(t.hash, t.kind, t.jti, t.grantId, t.clientId, t.userId, joinScopes(t.scopes));
    values.push(t.createdAt, t.expiresAt, t.consumedAt);
  }
  return values;
}

/**
 * Token rows, from their column values laid end to end, as a query with one row for each row of
 * `spent` (a CTE that has one row or none). Its values are parameters of no stated type, which
 * PostgreSQL takes for text in a `select`: the numbers are cast.
 */
export function tokenRowsIfSpent(values: unknown[]) {
  const rows = [];
  for (let start = 0; start < values.length; start += TOKEN_COLUMNS.length) {
    const columns = TOKEN_COLUMNS.map((column, i) => {
      const value = values[start + i];
      return column.endsWith("_at") ? sql`cast(${value} as bigint)` : sql`${value}`;
    });
    rows.push(sql`select ${sql.join(columns)} from spent`);
  }
  return sql.join(rows, sql` union all `);
}

/** Token rows from their column values laid end to end, in TOKEN_COLUMNS order. */
export function tokenRows(values: unknown[]): Insertable<Database["tokens"]>[] {
  const rows: Insertable<Database["tokens"]>[] = [];
  for (let start = 0; start < values.length; start += TOKEN_COLUMNS.length) {
    rows.push(Object.fromEntries(TOKEN_COLUMNS.map((column, i) => [column, values[start + i]])) as never);
  }
  return rows;
}
