import assert from "node:assert/strict";
import { test } from "node:test";
import type pg from "pg";
import {
  type CodeIssue,
  consentAndIssueSoleCode,
  issueAuthorizationCode,
  recordConsent,
} from "../src/core/authorization.js";
import { findSession, startSession } from "../src/core/sessions.js";
import { changePassword, checkCredentials } from "../src/core/users.js";
import { newCodeIssue } from "./support/code-issue.js";
import { createHarness, type Harness } from "./support/harness.js";
import { withPostgresHarness } from "./support/pg-harness.js";
import { PG_SKIP } from "./support/postgres.js";

async function assertNothingHeldFor(h: Harness, issue: CodeIssue): Promise<void> {
  const { store } = h.runtime.core;
  assert.equal(await store.getConsent(issue.clientId, issue.userId), undefined, "no consent");
  assert.equal(await store.revokeGrantsOf(issue.clientId, issue.userId, Date.now()), 0, "no lineage");
  assert.equal(await store.hasOutstandingCodeWithoutPkce(issue.clientId, issue.userId, Date.now()), false, "no code");
}

test("an approval that reaches the store after its user was deleted writes nothing", async () => {
  const h = await createHarness();
  try {
    const issue = await newCodeIssue(h);
    const { core } = h.runtime;
    assert.equal(await core.store.deleteUser(issue.userId), true);

    assert.equal(await recordConsent(core, issue.clientId, issue.userId, issue.scopes), false);
    assert.equal(await issueAuthorizationCode(core, issue), undefined);
    assert.deepEqual(await consentAndIssueSoleCode(core, { ...issue, codeChallenge: null }), { kind: "gone" });
    await assertNothingHeldFor(h, issue);
  } finally {
    await h.close();
  }
});

test(
  "on PostgreSQL, an approval waiting on its user's deletion writes nothing once it commits",
  {
    skip: PG_SKIP,
  },
  () =>
    withPostgresHarness(async (h, deleter) => {
      const issue = await newCodeIssue(h);
      const { core } = h.runtime;
      await deleter.query("begin");
      await deleter.query("delete from users where id = $1", [issue.userId]);

      const consenting = recordConsent(core, issue.clientId, issue.userId, issue.scopes);
      const issuing = issueAuthorizationCode(core, issue);
      await waitForLockWaiters(deleter, 2);
      await deleter.query("commit");

      assert.equal(await consenting, false);
      assert.equal(await issuing, undefined);
      await assertNothingHeldFor(h, issue);
    }),
);

test("a sign-in whose password changed, or whose user went, while it was checked starts no session", async () => {
  const h = await createHarness();
  try {
    const { core } = h.runtime;
    for (const change of [
      (userId: string) => changePassword(core, userId, "a brand new passphrase"),
      (userId: string) => core.store.deleteUser(userId),
    ]) {
      const who = await h.createUser();
      const checked = await checkCredentials(core, who.email, who.password);
      assert.ok(checked);
      await change(who.userId);
      assert.equal(await startSession(core, checked, 3_600_000), undefined);
      assert.equal(await core.store.deleteUserSessions(who.userId), 0, "no session was stored");
    }
    const unchanged = await h.createUser();
    const checked = await checkCredentials(core, unchanged.email, unchanged.password);
    assert.ok(checked && (await findSession(core, await startSession(core, checked, 3_600_000))));
  } finally {
    await h.close();
  }
});

test(
  "on PostgreSQL, a sign-in waiting on its user's password change starts no session once it commits",
  {
    skip: PG_SKIP,
  },
  () =>
    withPostgresHarness(async (h, changer) => {
      const { core } = h.runtime;
      const who = await h.createUser();
      const checked = await checkCredentials(core, who.email, who.password);
      assert.ok(checked);
      await changer.query("begin");
      await changer.query("update users set password_hash = 'scrypt$changed' where id = $1", [who.userId]);
      await changer.query("delete from sessions where user_id = $1", [who.userId]);

      const starting = startSession(core, checked, 3_600_000);
      await waitForLockWaiters(changer, 1);
      await changer.query("commit");

      assert.equal(await starting, undefined);
      assert.equal(await core.store.deleteUserSessions(who.userId), 0, "no session was stored");
    }),
);

/** Waits until `count` sessions wait, directly or not, on `client`'s locks: the approvals have reached the user's row. */
async function waitForLockWaiters(client: pg.Client, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    // Inside a transaction, PostgreSQL keeps the first view of pg_stat_activity unless told to let it go.
    await client.query("select pg_stat_clear_snapshot()");
    const { rows } = await client.query<{ waiting: number }>(
      // A second waiter queues behind the first for the row, so it waits on the deleter through it.
      `with recursive waiter(pid) as (
         select pid from pg_stat_activity where pg_backend_pid() = any(pg_blocking_pids(pid))
         union select a.pid from pg_stat_activity a join waiter on waiter.pid = any(pg_blocking_pids(a.pid))
       ) select count(*)::int as waiting from waiter`,
    );
    if ((rows[0]?.waiting ?? 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`fewer than ${count} approvals waited on the user's row`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
