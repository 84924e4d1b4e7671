import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openStore, type StoreOptions } from "../src/store/open.js";
import { CLIENTS_CHANNEL } from "../src/store/postgres-client-changes.js";
import type { ClientRecord, Store } from "../src/store/types.js";
import { adminQuery, createTestSchema, PG_SKIP, type TestSchema } from "./support/postgres.js";
import { clientRecord } from "./support/store-records.js";

/** Polls `read` until `done` holds for its value; fails after `withinMs`. Returns how long it took. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, withinMs: number, what: string) {
  const start = Date.now();
  for (;;) {
    if (done(await read())) return Date.now() - start;
    if (Date.now() - start > withinMs) assert.fail(`${what}: not within ${withinMs} ms`);
    await sleep(10);
  }
}

/** Whether two reads in a row return the one remembered record rather than two reads of the row. */
async function remembered(store: Store, id: string): Promise<boolean> {
  const first = await store.getClient(id);
  return first !== undefined && (await store.getClient(id)) === first;
}

describe("PostgreSQL: clients remembered between requests", { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  const stores: Store[] = [];

  async function open(
    clientChanges: StoreOptions["clientChanges"],
    connectionErrors: string[] = [],
    restored: string[] = [],
  ): Promise<Store> {
    const opened = await openStore(schema.url, { clientChanges });
    opened.onConnectionError((error) => connectionErrors.push(error.message));
    opened.onConnectionRestored((message) => restored.push(message));
    stores.push(opened.store);
    return opened.store;
  }

  before(async () => {
    schema = await createTestSchema();
  });
  after(async () => {
    for (const store of stores) await store.close();
    await schema?.drop();
  });

  test("a change made through another process's store is heard at once, long before the memo expires", async () => {
    const writer = await open({});
    const reader = await open({ maxAgeMs: 60_000 });
    const client: ClientRecord = clientRecord({ id: "OC-memo-announced" });
    await writer.createClient(client);
    // The first read opens the listening connection; reads are remembered once it listens.
    await until(() => remembered(reader, client.id), Boolean, 5000, "the reader remembers the client");

    await writer.setClientSecretHash(client.id, "rotated-secret-hash", Date.now());
    await until(
      () => reader.getClient(client.id),
      (read) => read?.secretHash === "rotated-secret-hash",
      2000,
      "rotation",
    );
    await until(() => remembered(reader, client.id), Boolean, 2000, "remembered again after the rotation");

    await writer.updateClient(client.id, { redirectUris: ["https://moved.example/cb"] }, Date.now());
    await until(
      () => reader.getClient(client.id),
      (read) => read?.redirectUris[0] === "https://moved.example/cb",
      2000,
      "update",
    );
    await until(() => remembered(reader, client.id), Boolean, 2000, "remembered again after the update");

    assert.equal(await writer.deleteClient(client.id), true);
    await until(
      () => reader.getClient(client.id),
      (read) => read === undefined,
      2000,
      "deletion",
    );
  });

  test("a change nobody announced is read once the memo is maxAgeMs old", async () => {
    const reader = await open({ maxAgeMs: 300 });
    const client = clientRecord({ id: "OC-memo-unannounced" });
    await reader.createClient(client);
    await until(() => remembered(reader, client.id), Boolean, 5000, "the reader remembers the client");
    await adminQuery(`update ${schema.name}.clients set secret_hash = 'edited-by-hand' where id = '${client.id}'`);
    await until(
      () => reader.getClient(client.id),
      (read) => read?.secretHash === "edited-by-hand",
      1500,
      "expiry",
    );
  });

  test("while its listening connection is down a process reads every client afresh, and it listens again", async () => {
    const writer = await open({});
    const reported: string[] = [];
    const restored: string[] = [];
    const reader = await open({ maxAgeMs: 60_000, retryMs: 200 }, reported, restored);
    const client = clientRecord({ id: "OC-memo-listener-lost" });
    await writer.createClient(client);
    await until(() => remembered(reader, client.id), Boolean, 5000, "the reader remembers the client");

    const { rows } = await adminQuery(
      `select pg_terminate_backend(pid) from pg_stat_activity where query = 'listen ${CLIENTS_CHANNEL}'`,
    );
    assert.ok(rows.length >= 1, "a listening connection to end");
    await until(
      () => remembered(reader, client.id),
      (kept) => !kept,
      2000,
      "reads afresh once the listener is gone",
    );
    await adminQuery(`update ${schema.name}.clients set secret_hash = 'changed-unheard' where id = '${client.id}'`);
    assert.equal((await reader.getClient(client.id))?.secretHash, "changed-unheard");

    await until(() => remembered(reader, client.id), Boolean, 5000, "listening again");
    // Reported once, as the connection errors handed to the server's log are.
    assert.equal(reported.length, 1, reported.join("\n"));
    assert.match(
      reported[0] ?? "",
      /^the connection listening for client changes was lost \(.+\); clients are read on every request/,
    );
    assert.deepEqual(restored, ["listening for client changes again; remembered clients serve authentication again"]);
    await writer.setClientSecretHash(client.id, "heard-again", Date.now());
    await until(
      () => reader.getClient(client.id),
      (read) => read?.secretHash === "heard-again",
      2000,
      "heard again",
    );
  });
});
