import pg from "pg";
import { createHarness, type Harness } from "./harness.js";
import { createTestSchema } from "./postgres.js";

/**
 * Runs `body` with a harness on a fresh PostgreSQL schema and a connection of the test's own to
 * it, with which a test plays another transaction; then closes both and drops the schema.
 */
export async function withPostgresHarness(body: (h: Harness, other: pg.Client) => Promise<void>): Promise<void> {
  const schema = await createTestSchema();
  const h = await createHarness({ DATABASE_URL: schema.url });
  const other = new pg.Client({ connectionString: schema.url });
  try {
    await other.connect();
    await body(h, other);
  } finally {
    await other.end();
    await h.close();
    await schema.drop();
  }
}
