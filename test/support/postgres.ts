import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL the tests may use; unset means those tests skip. */
export const PG_URL = process.env.KEYWARD_TEST_PG_URL;
export const PG_SKIP: string | false = PG_URL ? false : "KEYWARD_TEST_PG_URL is not set: PostgreSQL tests skipped";

/** `url` with every table name resolving in `schema`. */
export function withSearchPath(url: string, schema: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

export async function adminQuery(text: string, url = PG_URL): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export interface TestSchema {
  name: string;
  /** DATABASE_URL for keyward, confined to the schema. */
  url: string;
  drop(): Promise<void>;
}

/**
 * A uniquely named, empty schema in the database at `url` (the tests' PostgreSQL unless given);
 * `drop` removes it and everything in it.
 */
export async function createTestSchema(url = PG_URL, prefix = "keyward_test"): Promise<TestSchema> {
  if (!url) throw new Error("KEYWARD_TEST_PG_URL is not set");
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await adminQuery(`create schema ${name}`, url);
  return {
    name,
    url: withSearchPath(url, name),
    drop: async () => {
      await adminQuery(`drop schema if exists ${name} cascade`, url);
    },
  };
}
