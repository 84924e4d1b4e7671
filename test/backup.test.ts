import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import SQLite from "better-sqlite3";
import { runCliAsync } from "./support/cli-async.js";
import { createHarness, TEST_SECRET } from "./support/harness.js";
import { CLI, runCli, tempDatabase } from "./support/server-process.js";

interface Tokens {
  access_token: string;
  refresh_token: string;
}

test("backup copies a database a server keeps writing, and a server on the copy honours its tokens", async () => {
  const env = { DATABASE_URL: tempDatabase(), KEYWARD_SECRET: TEST_SECRET };
  const target = join(dirname(env.DATABASE_URL), "copy.db");
  const h = await createHarness(env);
  const client = await h.createClient();
  const spent: Tokens = (await h.exchangeCode(client, await h.createUser())).json();
  const held: Tokens = (await h.refresh(client, spent.refresh_token)).json();
  assert.ok(held.refresh_token, "a refresh acknowledged before the backup");

  // Another user's lineage keeps rotating while the backup runs.
  let busy: Tokens = (await h.exchangeCode(client, await h.createUser())).json();
  let rotations = 0;
  let stop = false;
  const writing = (async () => {
    while (!stop) {
      const res = await h.refresh(client, busy.refresh_token);
      assert.equal(res.statusCode, 200, res.body);
      busy = res.json();
      rotations++;
    }
  })();
  const before = rotations;
  const backup = await runCliAsync(["backup", target, "--json"], env);
  const during = rotations - before;
  stop = true;
  await writing;
  await h.close();

  assert.equal(backup.status, 0, backup.stderr);
  const printed = JSON.parse(backup.stdout);
  assert.equal(printed.backup, target);
  assert.equal(printed.integrity, "ok");
  assert.ok(printed.bytes > 0);
  assert.equal(statSync(target).mode & 0o777, 0o600, "readable by its owner only");
  assert.ok(during > 0, "the server went on writing while the backup ran");
  const copy = new SQLite(target, { readonly: true });
  try {
    assert.equal(copy.pragma("journal_mode", { simple: true }), "delete", "one self-contained file, no WAL beside it");
    assert.equal(copy.pragma("page_size", { simple: true }), 1024);
  } finally {
    copy.close();
  }

  const restored = await createHarness({ DATABASE_URL: target, KEYWARD_SECRET: TEST_SECRET });
  try {
    const refreshed = await restored.refresh(client, held.refresh_token);
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    assert.equal((await restored.profile(refreshed.json().access_token)).statusCode, 200);
    const reused = await restored.refresh(client, spent.refresh_token);
    assert.equal(reused.json().error, "invalid_grant", "the copy knows the token was spent before it");
  } finally {
    await restored.close();
  }
});

test("backup tells when the database was made with another secret than the command's", async () => {
  const env = { DATABASE_URL: tempDatabase(), KEYWARD_SECRET: TEST_SECRET };
  const h = await createHarness(env);
  await h.close();
  const target = join(dirname(env.DATABASE_URL), "copy.db");
  const other = runCli(["backup", target], { ...env, KEYWARD_SECRET: "another-secret-another-secret-0123456789" });
  assert.equal(other.status, 1);
  assert.match(other.stderr, /made with another secret/);
  assert.ok(existsSync(target), "the copy is made all the same: it is the database's, for the database's secret");
  assert.equal(runCli(["backup", `${target}.2`], env).status, 0, "the right secret is fine");
});

test("backup refuses to overwrite a file, to back up what is not there, and PostgreSQL", async () => {
  const env = { DATABASE_URL: tempDatabase(), KEYWARD_SECRET: TEST_SECRET };
  const taken = join(dirname(env.DATABASE_URL), "taken.db");
  writeFileSync(taken, "keep me");
  const missing = runCli(["backup", `${taken}.new`], env);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot open the database/);
  assert.equal(existsSync(env.DATABASE_URL), false, "no empty database was made in its place");
  assert.equal(existsSync(`${taken}.new`), false);

  const h = await createHarness(env);
  await h.close();
  const overwrite = runCli(["backup", taken], env);
  assert.equal(overwrite.status, 1);
  assert.match(overwrite.stderr, /already exists/);
  assert.equal(readFileSync(taken, "utf8"), "keep me");

  // README's own example names a directory that may not exist yet: it is made, for its owner only.
  const nested = join(dirname(env.DATABASE_URL), "backups", "daily", "keyward.db");
  const made = runCli(["backup", nested], env);
  assert.equal(made.status, 0, made.stderr);
  assert.equal(statSync(nested).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(nested)).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(dirname(nested)), ["keyward.db"], "nothing left beside the copy");

  assert.equal(runCli(["backup"], env).status, 2);
  const postgres = runCli(["backup", `${taken}.pg`], { ...env, DATABASE_URL: "postgres://nobody@127.0.0.1:1/x" });
  assert.equal(postgres.status, 2);
  assert.match(postgres.stderr, /pg_dump/);
});

test("a backup killed midway leaves no file at its target", { timeout: 60_000 }, async () => {
  const source = tempDatabase();
  const filler = new SQLite(source);
  filler.exec("create table filler (data blob)");
  const insert = filler.prepare("insert into filler values (randomblob(4096))");
  filler.transaction(() => {
    for (let i = 0; i < 12_000; i++) insert.run();
  })();
  filler.close();
  const target = join(dirname(source), "killed", "copy.db");
  const child = spawn(process.execPath, [CLI, "backup", target], {
    env: { ...process.env, DATABASE_URL: source, KEYWARD_SECRET: TEST_SECRET },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // Killed as soon as anything of the copy's appears beside its target.
  const started = Date.now();
  while (!existsSync(dirname(target)) || readdirSync(dirname(target)).length === 0) {
    assert.ok(Date.now() - started < 30_000, "the backup never started writing");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  child.kill("SIGKILL");
  await exited;
  assert.equal(existsSync(target), false, "a partial copy under the target's name");
  for (const name of readdirSync(dirname(target))) assert.match(name, /^copy\.db\.[0-9a-f]{12}\.partial(-journal)?$/);
});
