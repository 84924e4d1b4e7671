import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type pg from "pg";
import { type CodeIssue, issueAuthorizationCode, issueUnderConsent, recordConsent } from "../src/core/authorization.js";
import { disconnect } from "../src/core/connections.js";
import type { Store } from "../src/store/types.js";
import { newCodeIssue } from "./support/code-issue.js";
import { createHarness, type Harness } from "./support/harness.js";
import { withPostgresHarness } from "./support/pg-harness.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";
import { signal } from "./support/signal.js";
import { codeRecord, grantRecord, NOW, tokenRecord } from "./support/store-records.js";

/** A user who has consented to a client, and what an authorization for them would issue. */
async function consented(h: Harness): Promise<CodeIssue> {
  const issue = await newCodeIssue(h);
  assert.equal(await recordConsent(h.runtime.core, issue.clientId, issue.userId, issue.scopes), true);
  return issue;
}

/** As `consented`, and a lineage the consent began with its refresh token. */
async function consentedWithRefreshToken(h: Harness) {
  const issue = await consented(h);
  const earlier = grantRecord({ clientId: issue.clientId, userId: issue.userId, createdAt: NOW });
  const refresh = tokenRecord(earlier);
  await h.runtime.core.store.createGrant(earlier);
  await h.runtime.core.store.saveTokens([refresh]);
  return { issue, earlier, refresh };
}

/**
 * A code being issued as issueUnderConsent or consentAndIssue issue it, paused after taking its
 * rows (the consent's placed when there was none): returns the lineage it writes once released.
 */
async function issuingPaused(store: Store, issue: CodeIssue) {
  const [holding, released] = [signal(), signal()];
  const grant = grantRecord({ clientId: issue.clientId, userId: issue.userId, createdAt: NOW });
  const code = codeRecord(grant);
  const done = store.transaction(async (tx) => {
    assert.equal(await tx.holdUser(issue.userId), true);
    assert.equal(await tx.holdClient(issue.clientId), true);
    await tx.holdConsent(issue.clientId, issue.userId, NOW);
    holding.fire();
    await released.fired;
    await tx.saveConsent({ clientId: issue.clientId, userId: issue.userId, scopes: [...issue.scopes], updatedAt: NOW });
    await tx.createGrant(grant);
    await tx.createAuthorizationCode(code);
  });
  await holding.fired;
  return { grant, code, release: () => released.fire(), done };
}

/** Runs `work` and checks it is still waiting a moment later, as it must while the rows it needs are held. */
async function waitsFor<T>(work: () => Promise<T>, release: () => void, held: Promise<void>): Promise<T> {
  let finished = false;
  const running = work().then((value) => {
    finished = true;
    return value;
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(finished, false, "it waits for the holder");
  } finally {
    release();
    await held;
  }
  return running;
}

function raceSuite(
  engine: string,
  open: () => Promise<{ h: Harness; close: () => Promise<void> }>,
  skip: string | false,
) {
  describe(`approvals racing withdrawals (${engine})`, { skip }, () => {
    const race = (name: string, body: (h: Harness) => Promise<void>) =>
      test(name, async () => {
        const { h, close } = await open();
        try {
          await body(h);
        } finally {
          await close();
        }
      });

    race("a disconnect waits for a code being issued under the consent, then revokes its lineage", async (h) => {
      const { core } = h.runtime;
      const issue = await consented(h);
      const issuing = await issuingPaused(core.store, issue);
      assert.equal(
        await waitsFor(() => disconnect(core, issue.userId, issue.clientId), issuing.release, issuing.done),
        true,
      );
      assert.equal(await core.store.getConsent(issue.clientId, issue.userId), undefined);
      assert.equal(await core.store.revokeGrant(issuing.grant.id, Date.now()), false, "its lineage was revoked");
    });

    race("a disconnect waits for consent being given for the first time, then withdraws it", async (h) => {
      const { core } = h.runtime;
      const issue = await newCodeIssue(h);
      const issuing = await issuingPaused(core.store, issue);
      assert.equal(
        await waitsFor(() => disconnect(core, issue.userId, issue.clientId), issuing.release, issuing.done),
        true,
      );
      assert.equal(await core.store.getConsent(issue.clientId, issue.userId), undefined, "the consent is withdrawn");
      assert.equal(await core.store.revokeGrant(issuing.grant.id, Date.now()), false, "its lineage was revoked");
    });

    race(
      "revoking a refresh token waits for a code being issued under the consent, then revokes its lineage too",
      async (h) => {
        const { core } = h.runtime;
        const { issue, earlier, refresh } = await consentedWithRefreshToken(h);
        const issuing = await issuingPaused(core.store, issue);
        const revoking = () => core.store.revokeToken(refresh.hash, issue.clientId, Date.now());
        assert.equal(await waitsFor(revoking, issuing.release, issuing.done), true);
        assert.equal(await core.store.getConsent(issue.clientId, issue.userId), undefined, "the consent is withdrawn");
        assert.equal(await core.store.revokeGrant(earlier.id, Date.now()), false, "the token's lineage was revoked");
        assert.equal(await core.store.revokeGrant(issuing.grant.id, Date.now()), false, "and the new one");
      },
    );

    race("a code asked under a consent withdrawn meanwhile is not issued, and the user is asked again", async (h) => {
      const { core } = h.runtime;
      const issue = await consented(h);
      assert.equal(await disconnect(core, issue.userId, issue.clientId), true);
      assert.deepEqual(await issueUnderConsent(core, issue), { kind: "ask" });
      assert.equal(await core.store.getConsent(issue.clientId, issue.userId), undefined, "nothing left behind");
      assert.equal(await core.store.revokeGrantsOf(issue.clientId, issue.userId, Date.now()), 0, "no lineage");
      assert.equal(
        (await issueUnderConsent(core, { ...issue, scopes: ["profile:read", "design:meta:read"] })).kind,
        "ask",
      );
    });

    race(
      "deleting a client waits for a code being issued to it, then removes its lineage; later, none is issued",
      async (h) => {
        const { core } = h.runtime;
        const issue = await consented(h);
        const issuing = await issuingPaused(core.store, issue);
        assert.equal(
          await waitsFor(() => core.store.deleteClient(issue.clientId), issuing.release, issuing.done),
          true,
        );
        assert.equal(await core.store.revokeGrant(issuing.grant.id, Date.now()), false, "the lineage is gone");
        assert.equal(
          (await core.store.redeemAuthorizationCode(issuing.code.hash, issue.clientId, Date.now())).status,
          "unknown",
        );
        assert.equal(await issueAuthorizationCode(core, issue), undefined);
        assert.deepEqual(await issueUnderConsent(core, issue), { kind: "gone" });
      },
    );
  });
}

raceSuite(
  "SQLite",
  async () => {
    const h = await createHarness();
    return { h, close: () => h.close() };
  },
  false,
);

raceSuite(
  "PostgreSQL",
  async () => {
    const schema = await createTestSchema();
    const h = await createHarness({ DATABASE_URL: schema.url });
    return {
      h,
      close: async () => {
        await h.close();
        await schema.drop();
      },
    };
  },
  PG_SKIP,
);

test(
  "on PostgreSQL, a consent given again between a revocation's two statements keeps the lineage it began",
  { skip: PG_SKIP },
  () =>
    withPostgresHarness(async (h) => {
      const { core } = h.runtime;
      const { issue, earlier, refresh } = await consentedWithRefreshToken(h);
      const issuing = await issuingPaused(core.store, issue);
      // The user approves the client again the moment the first statement has committed.
      const store = core.store as unknown as { run: (name: string, ...rest: unknown[]) => Promise<unknown> };
      const run = store.run;
      const again = grantRecord({ clientId: issue.clientId, userId: issue.userId, createdAt: NOW });
      let approved = false;
      store.run = async function (this: unknown, name: string, ...rest: unknown[]) {
        if (name === "revokeGrantsOfUnconsented" && !approved) {
          approved = true;
          await core.store.transaction(async (tx) => {
            assert.equal(await tx.holdUser(issue.userId), true);
            assert.equal(await tx.holdClient(issue.clientId), true);
            await tx.holdConsent(issue.clientId, issue.userId, NOW);
            await tx.saveConsent({ ...issue, scopes: [...issue.scopes], updatedAt: NOW });
            await tx.createGrant(again);
          });
        }
        return run.call(this, name, ...rest);
      };
      const revoking = () => core.store.revokeToken(refresh.hash, issue.clientId, Date.now());
      try {
        assert.equal(await waitsFor(revoking, issuing.release, issuing.done), true);
      } finally {
        store.run = run;
      }
      assert.ok(approved, "the revocation ran its second statement");
      assert.equal(await core.store.revokeGrant(again.id, Date.now()), true, "the lineage the new consent began lives");
      assert.equal(await core.store.revokeGrant(earlier.id, Date.now()), false, "the token's lineage was revoked");
    }),
);

/** Deadlocks PostgreSQL has counted in the test's database, read afresh. */
async function deadlocks(other: pg.Client): Promise<number | undefined> {
  await other.query("select pg_stat_clear_snapshot()");
  const { rows } = await other.query<{ n: number }>(
    "select deadlocks::int as n from pg_stat_database where datname = current_database()",
  );
  return rows[0]?.n;
}

test(
  "on PostgreSQL, revoking a refresh token takes the lineages before the consent, as a disconnect does: no deadlock",
  { skip: PG_SKIP },
  () =>
    withPostgresHarness(async (h, other) => {
      const { core } = h.runtime;
      const { issue, refresh } = await consentedWithRefreshToken(h);
      const before = await deadlocks(other);
      // A disconnect's statements, paused after the lineages and before the consent.
      const pair = [issue.clientId, issue.userId];
      await other.query("begin");
      await other.query("update grants set revoked_at = 1 where client_id = $1 and user_id = $2", pair);
      const revoking = core.store.revokeToken(refresh.hash, issue.clientId, Date.now());
      await new Promise((resolve) => setTimeout(resolve, 300));
      await other.query("delete from consents where client_id = $1 and user_id = $2", pair);
      await other.query("commit");
      assert.equal(await revoking, true);
      assert.equal(await deadlocks(other), before);
      assert.equal(await core.store.getConsent(issue.clientId, issue.userId), undefined);
    }),
);

test(
  "on PostgreSQL, a disconnect and the deletion of its client take their rows in one order: no deadlock",
  {
    skip: PG_SKIP,
  },
  () =>
    withPostgresHarness(async (h, deleter) => {
      const { core } = h.runtime;
      const issue = await consented(h);
      assert.ok(await issueAuthorizationCode(core, issue));
      const before = await deadlocks(deleter);
      // deleteClient's statements, paused after the lineages and before the consent.
      await deleter.query("begin");
      await deleter.query("select id from clients where id = $1 for update", [issue.clientId]);
      await deleter.query("delete from grants where client_id = $1", [issue.clientId]);
      const disconnecting = disconnect(core, issue.userId, issue.clientId);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await deleter.query("delete from consents where client_id = $1", [issue.clientId]);
      await deleter.query("delete from clients where id = $1", [issue.clientId]);
      await deleter.query("commit");
      assert.equal(await disconnecting, false, "the client went first: nothing was left to withdraw");
      assert.equal(await deadlocks(deleter), before);
    }),
);
