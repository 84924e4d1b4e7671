import assert from "node:assert/strict";
import { describe, test } from "node:test";
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
        const issue = await consented(h);
        const earlier = grantRecord({ clientId: issue.clientId, userId: issue.userId, createdAt: NOW });
        const refresh = tokenRecord(earlier);
        await core.store.createGrant(earlier);
        await core.store.saveTokens([refresh]);
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
  "on PostgreSQL, a disconnect and the deletion of its client take their rows in one order: no deadlock",
  {
    skip: PG_SKIP,
  },
  () =>
    withPostgresHarness(async (h, deleter) => {
      const { core } = h.runtime;
      const issue = await consented(h);
      assert.ok(await issueAuthorizationCode(core, issue));
      const deadlocks = async () =>
        (
          await deleter.query<{ n: number }>(
            "select deadlocks::int as n from pg_stat_database where datname = current_database()",
          )
        ).rows[0]?.n;
      const before = await deadlocks();
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
      await deleter.query("select pg_stat_clear_snapshot()");
      assert.equal(await deadlocks(), before);
    }),
);
