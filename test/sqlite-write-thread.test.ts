import assert from "node:assert/strict";
import { copyFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import SQLite from "better-sqlite3";
import type { CompiledQuery } from "kysely";
import { isUnavailable } from "../src/store/errors.js";
import { openStore } from "../src/store/open.js";
import { isWriteThreadLost, WriteThread } from "../src/store/write-thread.js";
import { tempDatabase } from "./support/server-process.js";
import { clientRecord, grantRecord, NOW, tokenRecord, userRecord } from "./support/store-records.js";

const paths: string[] = [];
after(() => {
  for (const path of paths) rmSync(dirname(path), { recursive: true, force: true });
});

function newPath(): string {
  const path = tempDatabase();
  paths.push(path);
  return path;
}

/** A store with one client, one user and `lineages` lineages of that user with the client, a refresh token each. */
async function storeWithLineages(path: string, lineages: number, syncWal?: (fd: number) => Promise<void>) {
  const { store } = await openStore(path, syncWal ? { syncWal } : {});
  const client = clientRecord();
  const user = userRecord();
  await store.createClient(client);
  await store.createUser(user);
  const grants = Array.from({ length: lineages }, () => grantRecord({ clientId: client.id, userId: user.id }));
  const tokens = grants.map((grant) => tokenRecord(grant));
  for (const grant of grants) await store.createGrant(grant);
  await store.saveTokens(tokens);
  await store.saveConsent({ clientId: client.id, userId: user.id, scopes: ["profile:read"], updatedAt: NOW });
  await store.flush();
  return { store, client, user, grants, tokens };
}

const raw = (text: string, ...parameters: unknown[]): CompiledQuery =>
  ({ sql: text, parameters, query: { kind: "RawNode" } }) as unknown as CompiledQuery;

const insertUser = (id: string) =>
  raw(
    "insert into users (id, email, password_hash, display_name, team_id, created_at) values (?, ?, 'h', 'n', 't', 1)",
    id,
    `${id}@example.com`,
  );

/** Blocks this thread, event loop and all, for `ms`. */
const blockFor = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

test("a revocation the write thread commits shows in the next read, even inside a read snapshot taken before it", async () => {
  const { store, client, tokens } = await storeWithLineages(newPath(), 1);
  const [token] = tokens;
  assert.ok(token);
  try {
    const revoking = store.revokeToken(token.hash, client.id, NOW + 1);
    // Runs just after the batch is sent: a read opens the serving connection's shared snapshot, then
    // the event loop stands still while the thread commits, so its reply arrives with that snapshot open.
    setImmediate(() => {
      void store.findToken(token.hash);
      blockFor(200);
    });
    assert.equal(await revoking, true);
    assert.equal((await store.findToken(token.hash))?.grantRevokedAt, NOW + 1);
  } finally {
    await store.close();
  }
});

test("revocations on the write thread revoke every lineage, forget the consent and tell the client's tokens from others", async () => {
  const { store, client, user, grants, tokens } = await storeWithLineages(newPath(), 3);
  const [token] = tokens;
  assert.ok(token);
  try {
    assert.equal(await store.revokeToken(token.hash, "another-client", NOW + 4), false);
    assert.equal(await store.revokeToken("no-such-token", client.id, NOW + 4), false);
    assert.equal(
      (await store.getConsent(client.id, user.id)) !== undefined,
      true,
      "a stranger's revocation changed nothing",
    );
    assert.equal(await store.revokeToken(token.hash, client.id, NOW + 5), true);
    assert.equal(await store.revokeToken(token.hash, client.id, NOW + 6), true, "still the client's token");
    for (const token of tokens) assert.equal((await store.findToken(token.hash))?.grantRevokedAt, NOW + 5);
    assert.equal(await store.getConsent(client.id, user.id), undefined);
    const other = grantRecord({ clientId: client.id, userId: user.id });
    const [access, refresh] = [tokenRecord(other, { kind: "access" }), tokenRecord(other)];
    await store.createGrant(other);
    await store.saveTokens([access, refresh]);
    assert.equal(await store.revokeToken(access.hash, client.id, NOW + 7), true);
    assert.equal((await store.findToken(refresh.hash))?.grantRevokedAt, NOW + 7);
    const third = grantRecord({ clientId: client.id, userId: user.id });
    await store.createGrant(third);
    assert.equal(await store.revokeGrant(third.id, NOW + 7), true);
    assert.equal(await store.revokeGrant(other.id, NOW + 8), false);
    assert.equal(await store.revokeGrant(grants[0]?.id ?? "", NOW + 9), false);
  } finally {
    await store.close();
  }
});

test("a revocation on the write thread is synced to disk before flush resolves", async () => {
  let syncs = 0;
  const { store, client, tokens } = await storeWithLineages(newPath(), 1, async () => {
    syncs++;
  });
  try {
    await store.flush();
    const before = syncs;
    await store.revokeToken(tokens[0]?.hash ?? "", client.id, NOW + 1);
    await store.flush();
    assert.ok(syncs > before, "the thread's commit was not synced");
  } finally {
    await store.close();
  }
});

test("closing the store lets the revocations already asked for commit", async () => {
  const path = newPath();
  const { store, client, grants, tokens } = await storeWithLineages(path, 4);
  const revoking = store.revokeToken(tokens[0]?.hash ?? "", client.id, NOW + 1);
  const single = store.revokeGrant(grants[0]?.id ?? "", NOW + 2);
  await store.close();
  assert.equal(await revoking, true);
  assert.equal(await single, false);
  const database = new SQLite(path, { readonly: true });
  try {
    const live = database.prepare("select count(*) as n from grants where revoked_at is null").get() as { n: number };
    assert.equal(live.n, 0);
  } finally {
    database.close();
  }
});

test("each group on the write thread is atomic: a failing one rolls back alone, and later ones see earlier ones", async () => {
  const path = newPath();
  const { store } = await openStore(path);
  await store.close();
  let commits = 0;
  const thread = new WriteThread(path, 1000, async () => {
    commits++;
  });
  try {
    const byId = (id: string) => raw("select id from users where id = ?", id);
    const [kept, failed, read] = await Promise.allSettled([
      thread.run([insertUser("kept-1"), insertUser("kept-2")]),
      thread.run([insertUser("lost-1"), insertUser("kept-1")]),
      thread.run([byId("kept-1"), byId("lost-1")]),
    ]);
    assert.deepEqual(kept.status === "fulfilled" && kept.value, [1, 1]);
    assert.deepEqual(read.status === "fulfilled" && read.value, [1, 0], "a query answers the rows it returned");
    assert.equal(failed.status, "rejected");
    assert.match(String((failed as PromiseRejectedResult).reason.code), /^SQLITE_CONSTRAINT/);
    assert.equal(commits, 1, "one batch, one commit");
  } finally {
    await thread.stop();
  }
  const database = new SQLite(path, { readonly: true });
  try {
    const ids = (database.prepare("select id from users order by id").all() as { id: string }[]).map((r) => r.id);
    assert.deepEqual(ids, ["kept-1", "kept-2"]);
  } finally {
    database.close();
  }
});

test("a group that begins with a query acts on its row: later statements bind its columns, and none run without one", async () => {
  const path = newPath();
  const { store } = await openStore(path);
  await store.close();
  const thread = new WriteThread(path, 1000, async () => {});
  try {
    await thread.run([insertUser("u-1")]);
    const rename = (email: string) => [
      raw("select id as target, ? as name from users where email = ?", "renamed", email),
      raw("update users set display_name = @name where id = @target and created_at = ?", 1),
      raw("update users set team_id = 'moved' where id = @target"),
    ];
    const [found, missing] = await Promise.all([
      thread.run(rename("u-1@example.com")),
      thread.run(rename("nobody@example.com")),
    ]);
    assert.deepEqual(found, [1, 1, 1]);
    assert.deepEqual(missing, [0, 0, 0], "without a row, the statements after the query are skipped");
  } finally {
    await thread.stop();
  }
  const database = new SQLite(path, { readonly: true });
  try {
    assert.deepEqual(database.prepare("select display_name, team_id from users").all(), [
      { display_name: "renamed", team_id: "moved" },
    ]);
  } finally {
    database.close();
  }
});

test("a write thread that fails hands its groups back as lost and takes no more", async () => {
  // A directory that does not exist: the thread cannot open the database and fails at once.
  const thread = new WriteThread(join(dirname(newPath()), "missing", "keyward.db"), 1000, async () => {});
  const pending = thread.run([raw("update grants set revoked_at = 1")]);
  assert.ok(pending);
  await assert.rejects(pending, (error) => isWriteThreadLost(error));
  assert.equal(thread.run([raw("update grants set revoked_at = 1")]), undefined);
  await thread.stop();
});

test("the write thread's connection keeps the page cache it is given", async () => {
  const path = newPath();
  const { store } = await openStore(path);
  await store.close();
  const cacheOf = (kib: number) => [raw("select 1 from pragma_cache_size() where cache_size = ?", -kib)];
  const thread = new WriteThread(path, 1000, async () => {}, 1234);
  try {
    assert.deepEqual(await thread.run(cacheOf(1234)), [1]);
    assert.deepEqual(await thread.run(cacheOf(2000)), [0], "the query tells one size from another");
  } finally {
    await thread.stop();
  }
});

test("a database file replaced under the store: not ready, and no revocation goes to the new file", async () => {
  const path = newPath();
  const { store, client, tokens } = await storeWithLineages(path, 1);
  const [token] = tokens;
  assert.ok(token);
  await store.ping();
  // What an operator restoring a backup over a running server does.
  renameSync(path, `${path}.old`);
  copyFileSync(`${path}.old`, path);
  try {
    await assert.rejects(
      store.ping(),
      (error: unknown) => isUnavailable(error) && /replaced or removed/.test(String(error)),
    );
    await assert.rejects(store.revokeToken(token.hash, client.id, NOW), (error: unknown) => isUnavailable(error));
    const copy = new SQLite(path, { readonly: true });
    const revoked = copy.prepare("select count(*) as n from grants where revoked_at is not null").get() as {
      n: number;
    };
    copy.close();
    assert.equal(revoked.n, 0, "nothing was written to the file now at the path");
    rmSync(path);
    await assert.rejects(store.ping(), /replaced or removed/);
  } finally {
    await store.close();
  }
});
