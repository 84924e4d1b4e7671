import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { openStore } from "../src/store/open.js";
import { DEFAULT_POOL_SETTINGS } from "../src/store/pool-settings.js";
import { PreparingPool } from "../src/store/prepared-statements.js";
import type { Store } from "../src/store/types.js";
import { adminQuery, createTestSchema, PG_SKIP, type TestSchema } from "./support/postgres.js";
import { clientRecord } from "./support/store-records.js";

describe("PostgreSQL prepared statements", { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  let store: Store;

  before(async () => {
    schema = await createTestSchema();
    ({ store } = await openStore(schema.url, { pool: { ...DEFAULT_POOL_SETTINGS, size: 1 } }));
  });
  after(async () => {
    await store?.close();
    await schema?.drop();
  });

  test("queries with parameters are prepared once per connection under a name", async () => {
    const pool = new PreparingPool(new pg.Pool({ connectionString: schema.url, max: 1 }));
    try {
      const client = await pool.connect();
      try {
        for (const x of [1, 2]) assert.deepEqual((await client.query("select $1::int as x", [x])).rows, [{ x }]);
        const { rows } = await client.query<{ name: string }>("select name from pg_prepared_statements", []);
        assert.deepEqual(
          rows.map((row) => row.name),
          ["kw0_0"],
        );
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });

  test("a query runs again after its table gains or loses a column, in a transaction or not", async () => {
    const client = clientRecord();
    await store.createClient(client);
    assert.equal((await store.getClient(client.id))?.name, client.name);

    // `select *` prepared before the change now returns other columns: PostgreSQL refuses the old plan.
    await adminQuery(`alter table ${schema.name}.clients add column note text`);
    assert.equal((await store.getClient(client.id))?.name, client.name);

    await adminQuery(`alter table ${schema.name}.clients drop column note`);
    const inTransaction = await store.transaction((tx) => tx.getClient(client.id));
    assert.equal(inTransaction?.name, client.name);
  });
});
