import assert from "node:assert/strict";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { after, test } from "node:test";
import SQLite from "better-sqlite3";
import { CompiledQuery, sql } from "kysely";
import { FifoLock } from "../src/store/fifo-lock.js";
import { openStore } from "../src/store/open.js";
import { QueryCache } from "../src/store/query-cache.js";
import { openSqlite, WAL_SIZE_LIMIT_BYTES } from "../src/store/sqlite.js";
import type { ClientRecord, Store } from "../src/store/types.js";
import { WalCheckpointer } from "../src/store/wal-checkpointer.js";
import { tempDatabase } from "./support/server-process.js";
import { signal } from "./support/signal.js";

const paths: string[] = [];
after(() => {
  for (const path of paths) rmSync(dirname(path), { recursive: true, force: true });
});

async function storeWithObserver() {
  const path = tempDatabase();
  paths.push(path);
  const { store } = await openStore(path);
  // Another connection to the same file, as another process would have.
  const observer = new SQLite(path, { readonly: true });
  const visibleClients = () =>
    (observer.prepare("select id from clients order by id").all() as { id: string }[]).map((row) => row.id);
  return {
    store,
    visibleClients,
    async close() {
      observer.close();
      await store.close();
    },
  };
}

/** Polls `condition` until it holds, failing the test after 5 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const client = (id: string): ClientRecord => ({
  id,
  name: id,
  secretHash: "hash",
  redirectUris: ["https://example.com/cb"],
  scopes: [],
  createdAt: 1,
  updatedAt: 1,
});

const inTransaction = (store: Store, id: string, fail = false) =>
  store.transaction(async (tx) => {
    await tx.createClient(client(id));
    if (fail) throw new Error(`${id} refused`);
  });

test("transactions started together commit together, once flush is awaited", async () => {
  const { store, visibleClients, close } = await storeWithObserver();
  await Promise.all([inTransaction(store, "a"), inTransaction(store, "b")]);
  assert.deepEqual(visibleClients(), [], "another connection sees nothing before the batch commits");
  assert.equal((await store.getClient("a"))?.id, "a", "this process reads its own writes at once");
  await store.flush();
  assert.deepEqual(visibleClients(), ["a", "b"]);
  await close();
});

test("a transaction that fails rolls back alone; the rest of its batch commits", async () => {
  const { store, visibleClients, close } = await storeWithObserver();
  const outcomes = await Promise.allSettled([
    inTransaction(store, "first"),
    inTransaction(store, "failing", true),
    inTransaction(store, "last"),
  ]);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
  await store.flush();
  assert.deepEqual(visibleClients(), ["first", "last"]);
  assert.equal(await store.getClient("failing"), undefined);
  await close();
});

test("a batch SQLite rolled back whole fails every transaction in it, with the cause's code", async () => {
  const path = tempDatabase();
  paths.push(path);
  const opened = openSqlite(path);
  try {
    const first = opened.transactions((connection) =>
      connection.executeQuery(CompiledQuery.raw("create table kept (x)")),
    );
    // Awaited as a request's reply awaits it: from before the batch fails.
    const flushed = opened.flush();
    const second = opened.transactions(async (connection) => {
      // What SQLite may do by itself when a statement meets a full disk: end the whole write transaction.
      await connection.executeQuery(CompiledQuery.raw("rollback"));
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    });
    await first;
    await assert.rejects(second, /disk is full/);
    await assert.rejects(flushed, (error: { code?: string }) => error.code === "SQLITE_FULL");
    // Nor may a request whose transaction was in the batch, and which flushes only now, in the same turn.
    await assert.rejects(opened.flush(), (error: { code?: string }) => error.code === "SQLITE_FULL");
    const observer = new SQLite(path, { readonly: true });
    assert.deepEqual(observer.prepare("select name from sqlite_master where name = 'kept'").all(), []);
    observer.close();
  } finally {
    await opened.close();
  }
});

test("a write-thread batch SQLite rolled back by itself fails every group, and no group after it commits alone", async () => {
  const path = tempDatabase();
  paths.push(path);
  const setup = new SQLite(path);
  setup.pragma("journal_mode = WAL");
  setup.exec("create table t (x)");
  setup.close();
  const opened = openSqlite(path);
  try {
    const { writeAlone } = opened;
    assert.ok(writeAlone);
    const insert = (x: number) => CompiledQuery.raw(`insert into t values (${x})`);
    const outcomes = await Promise.allSettled([
      writeAlone([insert(1)]),
      // What SQLite may do by itself when a statement meets a full disk: end the whole write transaction, then fail.
      writeAlone([CompiledQuery.raw("rollback"), CompiledQuery.raw("select x from no_such_table")]),
      writeAlone([insert(3)]),
    ]);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ["rejected", "rejected", "rejected"],
    );
    const observer = new SQLite(path, { readonly: true });
    assert.deepEqual(observer.prepare("select x from t").all(), [], "nothing reported failed was written");
    observer.close();
  } finally {
    await opened.close();
  }
});

test("a transaction's store refuses statements once the transaction has ended", async () => {
  const { store, visibleClients, close } = await storeWithObserver();
  let leaked: Store | undefined;
  await store.transaction(async (tx) => {
    leaked = tx;
    await tx.createClient(client("inside"));
  });
  assert.ok(leaked);
  const late = leaked;
  // A compiled hot-path query and a query Kysely builds each time: neither may run unlocked.
  await assert.rejects(late.getClient("inside"), /transaction that has already ended/);
  await assert.rejects(late.createClient(client("late")), /transaction that has already ended/);
  await store.flush();
  assert.deepEqual(visibleClients(), ["inside"]);
  await close();
});

test("a write outside any transaction is visible to others after flush", async () => {
  const { store, visibleClients, close } = await storeWithObserver();
  await store.createClient(client("solo"));
  await store.flush();
  assert.deepEqual(visibleClients(), ["solo"]);
  await close();
});

test("closing the store commits the batch still open", async () => {
  const path = tempDatabase();
  paths.push(path);
  const { store } = await openStore(path);
  await inTransaction(store, "pending");
  await store.close();
  const reopened = new SQLite(path, { readonly: true });
  assert.deepEqual(reopened.prepare("select id from clients").all(), [{ id: "pending" }]);
  reopened.close();
});

test("the connection lock serves waiters in arrival order", async () => {
  const lock = new FifoLock();
  const order: number[] = [];
  await lock.acquire();
  const waiters = [1, 2, 3].map((n) =>
    lock.acquire().then(() => {
      order.push(n);
      lock.release();
    }),
  );
  lock.release();
  await Promise.all(waiters);
  assert.deepEqual(order, [1, 2, 3]);
  await lock.acquire();
  lock.release();
});

test("a cached query runs with each call's arguments and refuses a builder that drops one", async () => {
  const path = tempDatabase();
  paths.push(path);
  const { store, db } = await openStore(path);
  await store.createClient(client("x"));
  await store.createClient(client("y"));
  const cache = new QueryCache();
  const byId = (id: string) =>
    cache.execute(db, "byId", (clientId: string) => db.selectFrom("clients").select("id").where("id", "=", clientId), [
      id,
    ]);
  assert.deepEqual((await byId("x")).rows, [{ id: "x" }]);
  assert.deepEqual((await byId("y")).rows, [{ id: "y" }]);
  assert.deepEqual((await byId("z")).rows, []);
  assert.throws(
    () => cache.execute(db, "dropsOne", (_unused: string) => db.selectFrom("clients").select("id"), ["x"]),
    /argument 0 does not reach/,
  );
  await store.close();
});

test("a query runs at once when the connection is free and waits its turn while a transaction holds it", async () => {
  const path = tempDatabase();
  paths.push(path);
  const { store, db, runNow } = await openStore(path);
  assert.ok(runNow, "SQLite offers runNow");
  await store.createClient(client("x"));
  const byId = db.selectFrom("clients").select("id").where("id", "=", "x").compile();
  assert.deepEqual(runNow(byId, false)?.rows, [{ id: "x" }]);

  const [inside, held] = [signal(), signal()];
  const transaction = store.transaction(async (tx) => {
    await tx.createClient(client("y"));
    inside.fire();
    await held.fired;
  });
  await inside.fired;
  assert.equal(runNow(byId, false), undefined, "the transaction holds the connection");
  // Through the store, the read waits for the transaction and then sees what it committed.
  const seen = store.getClient("y");
  held.fire();
  await transaction;
  assert.equal((await seen)?.id, "y");
  assert.deepEqual(runNow(byId, false)?.rows, [{ id: "x" }]);
  await store.close();
});

/** Opens a store and a second connection to its file, as another process would have. */
async function storeAndOtherConnection() {
  const path = tempDatabase();
  paths.push(path);
  const { store } = await openStore(path);
  return { store, other: new SQLite(path) };
}

function insertClientElsewhere(other: SQLite.Database, id: string): void {
  other
    .prepare(
      "insert into clients (id, name, secret_hash, redirect_uris, scopes, created_at, updated_at) values (?, ?, 'h', '[]', '[]', 1, 1)",
    )
    .run(id, id);
}

test("reads share a read transaction for one turn, then see what others committed", async () => {
  const { store, other } = await storeAndOtherConnection();
  await store.getClient("x");
  insertClientElsewhere(other, "x");
  assert.equal(await store.getClient("x"), undefined, "the turn's snapshot stays as it began");
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((await store.getClient("x"))?.id, "x", "the next turn sees the other connection's commit");
  other.close();
  await store.close();
});

test("a transaction after a read in the same turn writes on the latest data", async () => {
  const { store, other } = await storeAndOtherConnection();
  await store.getClient("y");
  insertClientElsewhere(other, "y");
  await assert.rejects(inTransaction(store, "y"), /UNIQUE|constraint/i);
  await inTransaction(store, "z");
  await store.flush();
  assert.deepEqual(
    (other.prepare("select id from clients order by id").all() as { id: string }[]).map((row) => row.id),
    ["y", "z"],
  );
  other.close();
  await store.close();
});

test("a transaction waits for another connection's write lock without blocking the event loop", async () => {
  const path = tempDatabase();
  paths.push(path);
  // Two connections to one file in one process: SQLite's busy handler, which sleeps on this thread,
  // would stall the holder too, so the lock could never come free while the waiter waits.
  const { store: holder } = await openStore(path);
  const { store: waiter } = await openStore(path);
  let longestGapMs = 0;
  let lastTick = Date.now();
  const ticker = setInterval(() => {
    longestGapMs = Math.max(longestGapMs, Date.now() - lastTick);
    lastTick = Date.now();
  }, 5);
  const order: string[] = [];
  try {
    const holding = holder.transaction(async (tx) => {
      await tx.createClient(client("held"));
      await new Promise((resolve) => setTimeout(resolve, 300));
      order.push("holder done");
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const waiting = waiter.transaction(async (tx) => {
      order.push("waiter inside");
      await tx.createClient(client("waited"));
    });
    await Promise.all([holding, waiting]);
    await Promise.all([holder.flush(), waiter.flush()]);
  } finally {
    clearInterval(ticker);
  }
  assert.deepEqual(order, ["holder done", "waiter inside"]);
  assert.ok(longestGapMs < 150, `the event loop stalled for ${longestGapMs} ms`);
  assert.equal((await holder.getClient("waited"))?.id, "waited");
  await waiter.close();
  await holder.close();
});

test("WAL checkpoints run on their own thread and copy the WAL into the database file", async () => {
  const path = tempDatabase();
  paths.push(path);
  const serving = new SQLite(path);
  serving.pragma("journal_mode = WAL");
  serving.exec("create table rows (id integer primary key, body text not null)");
  const checkpointer = new WalCheckpointer(serving, path, WAL_SIZE_LIMIT_BYTES);
  await until(() => serving.pragma("wal_autocheckpoint", { simple: true }) === 0, "the serving connection stops");
  assert.equal(serving.pragma("journal_size_limit", { simple: true }), -1, "nor does it cut the WAL back");
  const sizeBefore = statSync(path).size;
  const insert = serving.prepare("insert into rows (body) values (?)");
  for (let i = 0; i < 3000; i++) insert.run("x".repeat(1000));
  await until(() => statSync(path).size > sizeBefore + 2_000_000, "the rows reach the database file");
  await checkpointer.stop();
  serving.close();
});

test("a checkpoint thread that fails hands checkpoints back and never makes closing fail", async () => {
  const path = tempDatabase();
  paths.push(path);
  // The thread's own connection cannot read this file, so its first checkpoint throws.
  writeFileSync(path, "this is not a database file, and it is long enough to have a header".repeat(10));
  const serving = new SQLite(":memory:");
  serving.pragma("wal_autocheckpoint = 0");
  const checkpointer = new WalCheckpointer(serving, path, WAL_SIZE_LIMIT_BYTES);
  // Stopping at once races the thread's failure, which is what made closing a store reject.
  await checkpointer.stop();
  assert.equal(serving.pragma("wal_autocheckpoint", { simple: true }), 0);
  const failing = new WalCheckpointer(serving, path, WAL_SIZE_LIMIT_BYTES);
  await until(
    () => serving.pragma("wal_autocheckpoint", { simple: true }) === 1000,
    "the serving connection takes checkpoints back",
  );
  assert.equal(serving.pragma("journal_size_limit", { simple: true }), WAL_SIZE_LIMIT_BYTES);
  await failing.stop();
  serving.close();
});

test("rows keep every column name exactly, however it is spelled", async () => {
  const path = tempDatabase();
  paths.push(path);
  const { db, close } = await openStore(path);
  try {
    const { rows } = await sql<Record<string, unknown>>`
      select 1 as "plain", 'two' as "with ""quotes"" and \\ backslash", null as "line
break", 4.5 as "ünï 😀", x'0102' as "constructor", 6 as "dup", 7 as "dup"`.execute(db);
    assert.equal(rows.length, 1);
    const row = rows[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(row), [
      "plain",
      'with "quotes" and \\ backslash',
      "line\nbreak",
      "ünï 😀",
      "constructor",
      "dup",
    ]);
    assert.equal(row.plain, 1);
    assert.equal(row['with "quotes" and \\ backslash'], "two");
    assert.equal(row["line\nbreak"], null);
    assert.equal(row["ünï 😀"], 4.5);
    assert.deepEqual(row.constructor, Buffer.from([1, 2]));
    assert.equal(row.dup, 7, "the later of two same-named columns wins, as it would in a loop");

    const proto = await sql<Record<string, unknown>>`select 1 as "__proto__", 2 as "after"`.execute(db);
    const special = proto.rows[0] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(special), Object.prototype);
    assert.deepEqual(Object.keys(special), ["__proto__", "after"]);
    assert.equal(Object.getOwnPropertyDescriptor(special, "__proto__")?.value, 1);
  } finally {
    await close();
  }
});

test("after a bulk write, the checkpoint thread empties the WAL once the server is quiet", async () => {
  const path = tempDatabase();
  paths.push(path);
  const { db, store } = await openStore(path);
  try {
    await sql`create table filler (data blob)`.execute(db);
    const megabytes = WAL_SIZE_LIMIT_BYTES / 1024 / 1024 + 16;
    await sql`insert into filler select randomblob(1048576) from (with recursive n(i) as (select 1 union all select i + 1 from n where i < ${megabytes}) select i from n)`.execute(
      db,
    );
    await store.flush();
    const walSize = () => statSync(`${path}-wal`).size;
    assert.ok(walSize() > WAL_SIZE_LIMIT_BYTES, "the bulk write went through the WAL");
    // Nothing more is written: the serving connection never restarts the WAL, so only the
    // checkpoint thread can cut it back.
    await until(() => walSize() <= WAL_SIZE_LIMIT_BYTES, "the WAL is cut back");
    assert.equal(
      (await sql<{ n: number }>`select count(*) as n from filler`.execute(db)).rows[0]?.n,
      megabytes,
      "every row is still there",
    );
  } finally {
    await store.close();
  }
});
