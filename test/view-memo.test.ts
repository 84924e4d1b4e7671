import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { after, test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import SQLite from "better-sqlite3";
import { KyselyStore } from "../src/store/kysely-store.js";
import { clientsView, connectDatabase, openStore } from "../src/store/open.js";
import { QueryCache } from "../src/store/query-cache.js";
import { ViewMemo } from "../src/store/view-memo.js";
import { tempDatabase } from "./support/server-process.js";
import { clientRecord, grantRecord, NOW, userRecord } from "./support/store-records.js";

const paths: string[] = [];
after(() => {
  for (const path of paths) rmSync(dirname(path), { recursive: true, force: true });
});

function loader(values: string[]) {
  let loads = 0;
  return {
    load: async () => values[loads++] ?? "none",
    get loads() {
      return loads;
    },
  };
}

test("a memo answers from one view without reading again, and reads again once the view changes", async () => {
  let view: number | undefined = 1;
  const memo = new ViewMemo<string>(() => view);
  const source = loader(["first", "second", "third"]);
  assert.equal(await memo.read("k", source.load), "first");
  assert.equal(await memo.read("k", source.load), "first");
  assert.equal(source.loads, 1);
  view = 2;
  assert.equal(await memo.read("k", source.load), "second");
  assert.equal(source.loads, 2);
  view = undefined;
  assert.equal(await memo.read("k", source.load), "third");
  assert.equal(await memo.read("k", source.load), "none");
});

test("a memo keeps nothing read while the view changed, nor anything where no view is known", async () => {
  let view = 1;
  const memo = new ViewMemo<string>(() => view);
  let loads = 0;
  const changingLoad = async () => {
    loads++;
    view++;
    return `read ${loads}`;
  };
  assert.equal(await memo.read("k", changingLoad), "read 1");
  assert.equal(await memo.read("k", changingLoad), "read 2");
  assert.equal(loads, 2);

  const blind = new ViewMemo<string>();
  const source = loader(["a", "b"]);
  await blind.read("k", source.load);
  await blind.read("k", source.load);
  assert.equal(source.loads, 2);
});

test("SQLite's view of a table stays through reads and other tables' writes, and changes with its own writes, transactions and the end of the shared read", async () => {
  const path = tempDatabase();
  paths.push(path);
  const opened = await openStore(path);
  const { store, close } = opened;
  const view = clientsView(opened);
  assert.ok(view, "SQLite reports its view");
  try {
    await nextTurn();
    const client = clientRecord();
    await store.createClient(client);
    const afterWrite = view();
    await store.getClient(client.id);
    await store.getClient("nobody");
    assert.equal(view(), afterWrite, "reads keep the view");
    await nextTurn();
    assert.notEqual(view(), afterWrite, "the shared read ended");

    const beforeTransaction = view();
    await store.transaction(async (tx) => {
      const opening = view();
      assert.notEqual(opening, beforeTransaction, "a transaction opened a batch");
      const user = userRecord();
      await tx.createUser(user);
      await tx.createGrant(grantRecord({ clientId: client.id, userId: user.id }));
      assert.equal(view(), opening, "writes to other tables keep the clients' view");
      await tx.setClientSecretHash(client.id, "rotated", NOW);
      assert.notEqual(view(), opening, "a write naming the clients table");
    });

    const beforeRollback = view();
    await assert.rejects(
      store.transaction(async () => {
        throw new Error("undo");
      }),
    );
    assert.notEqual(view(), beforeRollback, "a rollback");
  } finally {
    await close();
  }
});

test("authentication reads a client once per view, and sees a rotated secret or a deletion at once", async () => {
  const path = tempDatabase();
  paths.push(path);
  const connected = await connectDatabase(path);
  const { migrateDatabase } = await import("../src/store/migrate.js");
  await migrateDatabase(connected.db, "sqlite");
  const executed: string[] = [];
  const runNow = connected.runNow;
  assert.ok(runNow);
  const counting = new QueryCache((query, inTransaction) => {
    executed.push(query.sql);
    return runNow(query, inTransaction);
  });
  const store = new KyselyStore(connected.db, {
    onClose: connected.close,
    onFlush: connected.flush,
    queries: counting,
    clients: new ViewMemo(clientsView(connected)),
    transactions: connected.transactions,
  });
  try {
    const client = clientRecord();
    await store.createClient(client);
    await nextTurn();
    const reads = () => executed.filter((text) => /from "clients"/.test(text)).length;
    // One after another, as requests are: each is answered from its own event-loop task.
    const first = await store.getClient(client.id);
    const second = await store.getClient(client.id);
    const third = await store.getClient(client.id);
    assert.equal(first?.secretHash, client.secretHash);
    assert.equal(second, first);
    assert.equal(third, first);
    assert.equal(reads(), 1, "one read for three authentications in one view");

    await store.transaction(async (tx) => {
      assert.equal((await tx.getClient(client.id))?.id, client.id);
      await tx.createGrant(grantRecord({ clientId: client.id }));
      assert.equal((await tx.getClient(client.id))?.id, client.id);
    });
    assert.equal(reads(), 2, "a batch reads the client again once, and a grant written in it keeps it remembered");

    assert.equal(await store.setClientSecretHash(client.id, "rotated", NOW), true);
    assert.equal((await store.getClient(client.id))?.secretHash, "rotated", "the same turn sees the new secret");
    assert.equal(await store.deleteClient(client.id), true);
    assert.equal(await store.getClient(client.id), undefined, "the same turn sees the deletion");
  } finally {
    await store.close();
  }
});

test("a client changed by another process shows from the next turn on", async () => {
  const path = tempDatabase();
  paths.push(path);
  const { store, close } = await openStore(path);
  const other = new SQLite(path);
  try {
    const client = clientRecord();
    await store.createClient(client);
    await nextTurn();
    assert.equal((await store.getClient(client.id))?.secretHash, client.secretHash);
    other.prepare("update clients set secret_hash = 'elsewhere' where id = ?").run(client.id);
    await nextTurn();
    assert.equal((await store.getClient(client.id))?.secretHash, "elsewhere");
  } finally {
    other.close();
    await close();
  }
});
