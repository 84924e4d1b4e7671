import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { everyRecord, type PagedListing } from "../src/store/every-record.js";
import { openStore } from "../src/store/open.js";
import { DEFAULT_POOL_SETTINGS } from "../src/store/pool-settings.js";
import { DuplicateError, type Store, type TokenRecord } from "../src/store/types.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";
import { tempDatabase } from "./support/server-process.js";
import { signal } from "./support/signal.js";
import {
  clientRecord,
  codeRecord,
  grantRecord,
  HOUR,
  NOW,
  sessionRecord,
  signingKeyRecord,
  storeSession,
  tokenRecord,
  userRecord,
} from "./support/store-records.js";

interface Fixture {
  store: Store;
  close(): Promise<void>;
}

async function sqliteFixture(): Promise<Fixture> {
  const path = tempDatabase();
  const { store } = await openStore(path);
  return {
    store,
    async close() {
      await store.close();
      rmSync(dirname(path), { recursive: true, force: true });
    },
  };
}

async function postgresFixture(preparedStatements: boolean): Promise<Fixture> {
  const schema = await createTestSchema();
  const { store } = await openStore(schema.url, {
    pool: { ...DEFAULT_POOL_SETTINGS, preparedStatements },
  });
  return {
    store,
    async close() {
      await store.close();
      await schema.drop();
    },
  };
}

const CONCURRENCY = 50;
const times = <T>(n: number, make: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: n }, (_, i) => make(i)));
const countOf = <T>(values: T[], value: T) => values.filter((v) => v === value).length;

/** Exactly one caller won (`won`) and the others saw reuse; only the winner's tokens were stored. */
async function assertOnlyWinnerStored(
  store: Store,
  pairs: TokenRecord[][],
  outcomes: { status: string }[],
  won: string,
): Promise<void> {
  const statuses = outcomes.map((o) => o.status);
  assert.equal(countOf(statuses, won), 1);
  assert.equal(countOf(statuses, "reused"), CONCURRENCY - 1);
  for (const [i, pair] of pairs.entries()) {
    for (const token of pair) {
      const found = await store.findToken(token.hash);
      if (statuses[i] === won) assert.deepEqual(found, { ...token, grantRevokedAt: null });
      else assert.equal(found, undefined, "a replay stored nothing");
    }
  }
}

/** Two live lineages of user u with client c and one revoked before, beside live ones of another user and another client. */
async function lineagesOfUser(store: Store) {
  const mine = [grantRecord({ clientId: "c", userId: "u" }), grantRecord({ clientId: "c", userId: "u" })];
  const revokedBefore = grantRecord({ clientId: "c", userId: "u" });
  const others = [grantRecord({ clientId: "c", userId: "v" }), grantRecord({ clientId: "d", userId: "u" })];
  for (const grant of [...mine, revokedBefore, ...others]) await store.createGrant(grant);
  await store.revokeGrant(revokedBefore.id, NOW - 5);
  return { mine, others };
}

const ENGINES = [
  { engine: "sqlite", open: sqliteFixture, skip: false as const },
  { engine: "postgres", open: () => postgresFixture(true), skip: PG_SKIP },
  { engine: "postgres, unnamed statements", open: () => postgresFixture(false), skip: PG_SKIP },
];

for (const { engine, open, skip } of ENGINES) {
  describe(`Store conformance (${engine})`, { skip }, () => {
    /** Each test gets a database (SQLite file, PostgreSQL schema) of its own. */
    const it = (title: string, body: (store: Store) => Promise<void>, options: { skip?: string } = {}) =>
      test(title, options, async () => {
        const fixture = await open();
        try {
          await body(fixture.store);
        } finally {
          await fixture.close();
        }
      });

    it("creates, lists, updates and deletes clients with everything issued to them", async (store) => {
      const first = clientRecord({ createdAt: NOW });
      const second = clientRecord({ createdAt: NOW + 1 });
      await store.createClient(second);
      await store.createClient(first);
      assert.deepEqual(await store.getClient(first.id), first);
      assert.equal(await store.getClient("missing"), undefined);
      assert.deepEqual(
        (await store.listClients(undefined, 1000)).map((c) => c.id),
        [first.id, second.id].sort(),
      );
      assert.equal(await store.setClientSecretHash(first.id, "new-hash", NOW + 5), true);
      assert.equal(await store.setClientSecretHash("missing", "x", NOW), false);
      assert.deepEqual(await store.getClient(first.id), { ...first, secretHash: "new-hash", updatedAt: NOW + 5 });
      assert.equal(await store.updateClient(first.id, { name: "Renamed" }, NOW + 6), true);
      assert.equal(
        await store.updateClient(first.id, { redirectUris: ["https://b.example/cb"], scopes: ["asset:read"] }, NOW + 7),
        true,
      );
      assert.equal(await store.updateClient("missing", { name: "x" }, NOW), false);
      assert.deepEqual(await store.getClient(first.id), {
        ...first,
        name: "Renamed",
        secretHash: "new-hash",
        redirectUris: ["https://b.example/cb"],
        scopes: ["asset:read"],
        updatedAt: NOW + 7,
      });

      const grant = grantRecord({ clientId: first.id });
      const token = tokenRecord(grant);
      const code = codeRecord(grant);
      await store.createGrant(grant);
      await store.createAuthorizationCode(code);
      await store.saveTokens([token]);
      await store.saveConsent({ clientId: first.id, userId: grant.userId, scopes: ["profile:read"], updatedAt: NOW });
      assert.equal(await store.deleteClient(first.id), true);
      assert.equal(await store.deleteClient(first.id), false);
      assert.equal(await store.getClient(first.id), undefined);
      assert.equal(await store.findToken(token.hash), undefined);
      assert.equal(await store.getConsent(first.id, grant.userId), undefined);
      assert.equal((await store.redeemAuthorizationCode(code.hash, first.id, NOW)).status, "unknown");
      assert.deepEqual(await store.getClient(second.id), second);
    });

    it("deletes a client's many lineages a chunk at a time, others reading between, and answers once all are gone", async (store) => {
      const [client, other] = [clientRecord(), clientRecord()];
      for (const c of [client, other]) await store.createClient(c);
      const grants = Array.from({ length: 250 }, () => grantRecord({ clientId: client.id }));
      for (const grant of grants) await store.createGrant(grant);
      const tokens = grants.map((grant) => tokenRecord(grant));
      await store.saveTokens(tokens);
      const kept = grantRecord({ clientId: other.id });
      await store.createGrant(kept);
      const keptToken = tokenRecord(kept);
      await store.saveTokens([keptToken]);
      // All at once: on SQLite the reads then run together, between two transactions.
      const left = async () =>
        (await Promise.all(tokens.map((token) => store.findToken(token.hash)))).filter(Boolean).length;
      let done = false;
      const deleting = store.deleteClient(client.id).then((deleted) => {
        done = true;
        return deleted;
      });
      const seen: number[] = [];
      while (!done) {
        seen.push(await left());
        // A read may be answered within the turn; the deletion goes on in the next one.
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(await deleting, true);
      // On SQLite, whose statements hold the event loop, the reads run between the chunks; on
      // PostgreSQL the chunks may all commit during one count.
      if (engine === "sqlite") {
        assert.ok(
          seen.some((count) => count > 0 && count < tokens.length),
          `reads between the chunks saw some lineages gone and some left: ${seen.join(", ")}`,
        );
      }
      assert.equal(await left(), 0);
      assert.equal(await store.revokeGrant(grants[0]?.id ?? "", NOW), false);
      assert.equal((await store.findToken(keptToken.hash))?.clientId, other.id);
    });

    it("deletes a user with everything held on their behalf, and nobody else's", async (store) => {
      const client = clientRecord();
      await store.createClient(client);
      const [gone, kept] = [userRecord(), userRecord()];
      const held = [];
      for (const user of [gone, kept]) {
        await store.createUser(user);
        const grant = grantRecord({ clientId: client.id, userId: user.id });
        const token = tokenRecord(grant);
        const code = codeRecord(grant);
        const session = sessionRecord({ userId: user.id });
        await store.createGrant(grant);
        await store.createAuthorizationCode(code);
        await store.saveTokens([token]);
        await store.saveConsent({ clientId: client.id, userId: user.id, scopes: ["profile:read"], updatedAt: NOW });
        await storeSession(store, session);
        held.push({ user, token, code, session });
      }
      assert.equal(await store.deleteUser(gone.id), true);
      assert.equal(await store.deleteUser(gone.id), false);
      const [before, after] = held;
      assert.ok(before && after);
      assert.equal(await store.getUserById(gone.id), undefined);
      assert.equal(await store.findToken(before.token.hash), undefined);
      assert.equal((await store.redeemAuthorizationCode(before.code.hash, client.id, NOW)).status, "unknown");
      assert.equal(await store.getConsent(client.id, gone.id), undefined);
      assert.equal(await store.findSession(before.session.hash, NOW), undefined);

      assert.deepEqual(await store.getUserById(kept.id), kept);
      assert.equal((await store.findToken(after.token.hash))?.userId, kept.id);
      assert.ok(await store.getConsent(client.id, kept.id));
      assert.ok(await store.findSession(after.session.hash, NOW));
    });

    it("keeps a replaced client secret beside the new one when asked, and only the last", async (store) => {
      const client = clientRecord({ createdAt: NOW });
      await store.createClient(client);
      assert.equal(await store.setClientSecretHash(client.id, "second", NOW + 1, NOW + 1000), true);
      assert.deepEqual(await store.getClient(client.id), {
        ...client,
        secretHash: "second",
        previousSecret: { hash: client.secretHash, expiresAt: NOW + 1000 },
        updatedAt: NOW + 1,
      });
      assert.equal(await store.setClientSecretHash(client.id, "third", NOW + 2, NOW + 2000), true);
      assert.deepEqual((await store.getClient(client.id))?.previousSecret, { hash: "second", expiresAt: NOW + 2000 });
      assert.equal(await store.setClientSecretHash(client.id, "fourth", NOW + 3), true);
      assert.deepEqual(await store.getClient(client.id), { ...client, secretHash: "fourth", updatedAt: NOW + 3 });
    });

    it("lists users and clients a page at a time in id order", async (store) => {
      const users = Array.from({ length: 5 }, () => userRecord());
      for (const user of users) await store.createUser(user);
      const clients = Array.from({ length: 5 }, (_, i) => clientRecord({ createdAt: NOW - i }));
      for (const client of clients) await store.createClient(client);
      const listings: Array<[string, { id: string }[], PagedListing<{ id: string }>]> = [
        ["users", users, (after, limit) => store.listUsers(after, limit)],
        ["clients", clients, (after, limit) => store.listClients(after, limit)],
      ];
      for (const [name, created, list] of listings) {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await list(after, 2);
          assert.ok(page.length <= 2);
          seen.push(...page.map((record) => record.id));
          if (page.length < 2) break;
          after = page.at(-1)?.id;
        }
        const ours = seen.filter((id) => created.some((record) => record.id === id));
        assert.equal(ours.length, 5, `each of the ${name} once`);
        assert.equal(new Set(seen).size, seen.length, `none of the ${name} twice`);
        // The order is the database's collation of ids (PostgreSQL's may not be bytewise); pages follow it.
        const all = await list(undefined, 1000);
        assert.deepEqual(
          seen,
          all.map((record) => record.id),
          `the pages of ${name} are one listing, in its order`,
        );
        const everything: string[] = [];
        for await (const record of everyRecord(list, 2)) everything.push(record.id);
        assert.deepEqual(everything, seen, `everyRecord reads every one of the ${name}`);
        const one = created[0] as { id: string };
        assert.deepEqual(
          all.find((record) => record.id === one.id),
          one,
          "whole records",
        );
      }
    });

    it("ends every sign-in session of one user, and no one else's", async (store) => {
      const mine = sessionRecord({ userId: "signing-out" });
      const alsoMine = sessionRecord({ userId: "signing-out" });
      const theirs = sessionRecord({ userId: "staying" });
      for (const session of [mine, alsoMine, theirs]) await storeSession(store, session);
      assert.equal(await store.deleteUserSessions("signing-out"), 2);
      assert.equal(await store.findSession(mine.hash, NOW), undefined);
      assert.equal(await store.findSession(alsoMine.hash, NOW), undefined);
      assert.deepEqual(await store.findSession(theirs.hash, NOW), theirs);
      assert.equal(await store.deleteUserSessions("signing-out"), 0);
    });

    it("answers a readiness ping", async (store) => {
      await store.ping();
    });

    it("holds a user who exists, and reports one who does not", async (store) => {
      const user = userRecord();
      await store.createUser(user);
      assert.equal(await store.transaction((tx) => tx.holdUser(user.id)), true);
      assert.equal(await store.transaction((tx) => tx.holdUser("missing")), false);
      assert.deepEqual(await store.getUserById(user.id), user, "holding changes nothing");
    });

    it("holds a client who exists, and reports one who does not", async (store) => {
      const client = clientRecord();
      await store.createClient(client);
      assert.equal(await store.transaction((tx) => tx.holdClient(client.id)), true);
      assert.equal(await store.transaction((tx) => tx.holdClient("missing")), false);
      assert.deepEqual(await store.getClient(client.id), client, "holding changes nothing");
      assert.equal(await store.deleteClient(client.id), true);
      assert.equal(await store.transaction((tx) => tx.holdClient(client.id)), false);
    });

    it("deleting a user waits for a transaction holding them, then removes what it wrote", async (store) => {
      const client = clientRecord();
      const user = userRecord();
      await store.createClient(client);
      await store.createUser(user);
      const grant = grantRecord({ clientId: client.id, userId: user.id });
      const code = codeRecord(grant);
      const [holding, released] = [signal(), signal()];
      const issuing = store.transaction(async (tx) => {
        assert.equal(await tx.holdUser(user.id), true);
        holding.fire();
        await released.fired;
        await tx.saveConsent({ clientId: client.id, userId: user.id, scopes: ["profile:read"], updatedAt: NOW });
        await tx.createGrant(grant);
        await tx.createAuthorizationCode(code);
      });
      await holding.fired;
      let deletedYet = false;
      const deleting = store.deleteUser(user.id).then((deleted) => {
        deletedYet = true;
        return deleted;
      });
      // Long enough for the deletion to reach the held row; it must still be waiting there.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(deletedYet, false, "the deletion waits for the holder");
      released.fire();
      await issuing;
      assert.equal(await deleting, true);
      assert.equal(await store.getConsent(client.id, user.id), undefined);
      assert.equal((await store.redeemAuthorizationCode(code.hash, client.id, NOW)).status, "unknown");
      assert.equal(await store.revokeGrant(grant.id, NOW), false, "the lineage is gone");
      assert.equal(await store.transaction((tx) => tx.holdUser(user.id)), false);
    });

    it("lists a user's consents to clients that exist, most recent first", async (store) => {
      const [older, newer, deleted] = [clientRecord(), clientRecord(), clientRecord()];
      for (const client of [older, newer, deleted]) await store.createClient(client);
      const [user, other] = [userRecord(), userRecord()];
      const consent = (clientId: string, userId: string, updatedAt: number) =>
        store.saveConsent({ clientId, userId, scopes: ["profile:read", "design:meta:read"], updatedAt });
      await consent(older.id, user.id, NOW);
      await consent(newer.id, user.id, NOW + 10);
      await consent(deleted.id, user.id, NOW + 20);
      await consent(older.id, other.id, NOW + 30);
      await store.deleteClient(deleted.id);
      assert.deepEqual(await store.listConsents(user.id), [
        { clientId: newer.id, userId: user.id, scopes: ["profile:read", "design:meta:read"], updatedAt: NOW + 10 },
        { clientId: older.id, userId: user.id, scopes: ["profile:read", "design:meta:read"], updatedAt: NOW },
      ]);
      assert.deepEqual(await store.listConsents("nobody"), []);
    });

    it("sets a new password and ends that user's sessions only", async (store) => {
      const [user, other] = [userRecord(), userRecord()];
      await store.createUser(user);
      await store.createUser(other);
      const session = sessionRecord({ userId: user.id });
      const otherSession = sessionRecord({ userId: other.id });
      await storeSession(store, session);
      await storeSession(store, otherSession);
      assert.equal(await store.setUserPassword(user.id, "scrypt$new"), true);
      assert.equal(await store.setUserPassword("missing", "scrypt$x"), false);
      assert.equal((await store.getUserById(user.id))?.passwordHash, "scrypt$new");
      assert.equal(await store.findSession(session.hash, NOW), undefined);
      assert.ok(await store.findSession(otherSession.hash, NOW));
    });

    it("finds no client and no user by an id or email holding a NUL character", async (store) => {
      const client = clientRecord({ createdAt: NOW });
      await store.createClient(client);
      const user = userRecord();
      await store.createUser(user);
      assert.equal(await store.getClient(`${client.id}\u0000`), undefined);
      assert.equal(await store.getClient("\u0000"), undefined);
      assert.equal(await store.getUserByEmail(`${user.email}\u0000`), undefined);
      assert.equal(await store.getUserById(`${user.id}\u0000`), undefined);
      assert.equal(await store.getUserById("\u0000"), undefined);
      // Nor deletes or holds one: the admin API's DELETE answers 404 for such an id on either engine.
      assert.equal(await store.deleteUser(`${user.id}\u0000`), false);
      assert.equal(await store.deleteClient(`${client.id}\u0000`), false);
      assert.equal(await store.updateClient(`${client.id}\u0000`, { name: "x" }, NOW), false);
      assert.equal(await store.setClientSecretHash(`${client.id}\u0000`, "h", NOW), false);
      assert.deepEqual(
        await store.transaction(async (tx) => [await tx.holdUser("\u0000"), await tx.holdClient("\u0000")]),
        [false, false],
      );
      assert.equal((await store.getUserById(user.id))?.id, user.id);
    });

    it("records the first secret check and keeps it", async (store) => {
      assert.equal(await store.getSecretCheck(), undefined);
      assert.equal(await store.claimSecretCheck("first"), "first");
      assert.equal(await store.claimSecretCheck("second"), "first");
      assert.equal(await store.getSecretCheck(), "first");
    });

    it("creates users with unique emails", async (store) => {
      const user = userRecord();
      await store.createUser(user);
      await assert.rejects(store.createUser(userRecord({ email: user.email })), DuplicateError);
      assert.deepEqual(await store.getUserByEmail(user.email), user);
      assert.deepEqual(await store.getUserById(user.id), user);
      assert.equal(await store.getUserByEmail("nobody@example.com"), undefined);
      assert.equal(await store.getUserById("missing"), undefined);
    });

    it("saves, replaces and deletes consent, also under concurrent upserts", async (store) => {
      assert.equal(await store.getConsent("c", "u"), undefined);
      await store.saveConsent({ clientId: "c", userId: "u", scopes: ["a"], updatedAt: NOW });
      await times(CONCURRENCY, (i) =>
        store.saveConsent({ clientId: "c", userId: "u", scopes: ["a", `s${i}`], updatedAt: NOW + i }),
      );
      const saved = await store.getConsent("c", "u");
      assert.equal(saved?.scopes.length, 2);
      await store.saveConsent({ clientId: "c", userId: "u", scopes: ["b", "c"], updatedAt: NOW + 99 });
      assert.deepEqual(await store.getConsent("c", "u"), {
        clientId: "c",
        userId: "u",
        scopes: ["b", "c"],
        updatedAt: NOW + 99,
      });
      await store.deleteConsent("c", "u");
      assert.equal(await store.getConsent("c", "u"), undefined);
    });

    it("consents merged by concurrent transactions that hold the row first keep every scope", async (store) => {
      const scopes = ["a", "b", "c", "d", "e", "f"];
      await Promise.all(
        scopes.map((scope) =>
          store.transaction(async (tx) => {
            await tx.holdConsent("c", "u", NOW);
            const previous = await tx.getConsent("c", "u");
            await tx.saveConsent({
              clientId: "c",
              userId: "u",
              scopes: [...(previous?.scopes ?? []), scope],
              updatedAt: NOW,
            });
          }),
        ),
      );
      assert.deepEqual((await store.getConsent("c", "u"))?.scopes.sort(), scopes);
    });

    it("revokes a lineage once, exactly one of many concurrent revocations reporting it", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const results = await times(CONCURRENCY, () => store.revokeGrant(grant.id, NOW));
      assert.equal(countOf(results, true), 1);
      assert.equal(await store.revokeGrant(grant.id, NOW), false);
      assert.equal(await store.revokeGrant("missing", NOW), false);
    });

    it("revokes the live lineages of one user with one client", async (store) => {
      const { mine, others } = await lineagesOfUser(store);
      assert.equal(await store.revokeGrantsOf("c", "u", NOW), 2);
      assert.equal(await store.revokeGrantsOf("c", "u", NOW + 1), 0);
      for (const grant of mine) assert.equal(await store.revokeGrant(grant.id, NOW), false, "already revoked");
      for (const grant of others) assert.equal(await store.revokeGrant(grant.id, NOW), true, "left live");
    });

    it("revokes by token: an access token's lineage, a refresh token's consent, a stranger's nothing", async (store) => {
      const { mine, others } = await lineagesOfUser(store);
      const [first, second] = mine;
      assert.ok(first && second);
      const access = tokenRecord(first, { kind: "access" });
      const refresh = tokenRecord(second);
      const othersTokens = others.map((grant) => tokenRecord(grant));
      await store.saveTokens([access, refresh, ...othersTokens]);
      const consent = (clientId: string, userId: string) => ({ clientId, userId, scopes: ["a"], updatedAt: NOW });
      for (const [client, user] of [
        ["c", "u"],
        ["c", "v"],
        ["d", "u"],
      ] as const) {
        await store.saveConsent(consent(client, user));
      }
      const lineageRevokedAt = async (token: TokenRecord) => (await store.findToken(token.hash))?.grantRevokedAt;

      assert.equal(await store.revokeToken(access.hash, "d", NOW), false, "another client's token");
      assert.equal(await store.revokeToken("missing", "c", NOW), false);
      assert.equal(await lineageRevokedAt(access), null);

      assert.equal(await store.revokeToken(access.hash, "c", NOW), true);
      assert.equal(await lineageRevokedAt(access), NOW, "the access token's lineage");
      assert.equal(await lineageRevokedAt(refresh), null, "and no other");
      assert.deepEqual(await store.getConsent("c", "u"), consent("c", "u"), "the consent stays");
      assert.equal(await store.revokeToken(access.hash, "c", NOW + 1), true, "again: still the client's token");
      assert.equal(await lineageRevokedAt(access), NOW, "revoked once");

      await assert.rejects(
        store.transaction(async (tx) => {
          assert.equal(await tx.revokeToken(refresh.hash, "c", NOW + 2), true);
          throw new Error("abort");
        }),
        /abort/,
      );
      assert.equal(await lineageRevokedAt(refresh), null, "rolled back with its transaction");
      assert.deepEqual(await store.getConsent("c", "u"), consent("c", "u"), "rolled back with its transaction");

      assert.equal(await store.revokeToken(refresh.hash, "c", NOW + 3), true);
      assert.equal(await lineageRevokedAt(refresh), NOW + 3);
      assert.equal(await store.getConsent("c", "u"), undefined, "the consent is withdrawn");
      for (const grant of mine) assert.equal(await store.revokeGrant(grant.id, NOW), false, "already revoked");
      for (const token of othersTokens) assert.equal(await lineageRevokedAt(token), null, "left live");
      assert.deepEqual(await store.getConsent("c", "v"), consent("c", "v"));
      assert.deepEqual(await store.getConsent("d", "u"), consent("d", "u"));
    });

    it("revokes one refresh token from many callers at once: every lineage of the user revoked, the consent gone", async (store) => {
      const grants = Array.from({ length: 6 }, () => grantRecord({ clientId: "c", userId: "u" }));
      for (const grant of grants) await store.createGrant(grant);
      const tokens = grants.map((grant) => tokenRecord(grant));
      await store.saveTokens(tokens);
      await store.saveConsent({ clientId: "c", userId: "u", scopes: ["a"], updatedAt: NOW });
      const [token] = tokens;
      assert.ok(token);
      const results = await times(CONCURRENCY, (i) => store.revokeToken(token.hash, "c", NOW + i));
      assert.equal(countOf(results, true), CONCURRENCY);
      assert.equal(await store.getConsent("c", "u"), undefined);
      for (const grant of grants) assert.equal(await store.revokeGrant(grant.id, NOW), false, "already revoked");
    });

    it("tracks outstanding codes issued without PKCE", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      assert.equal(await store.hasOutstandingCodeWithoutPkce(grant.clientId, grant.userId, NOW), false);
      await store.createAuthorizationCode(codeRecord(grant, { codeChallenge: null, expiresAt: NOW - 1 }));
      assert.equal(await store.hasOutstandingCodeWithoutPkce(grant.clientId, grant.userId, NOW), false);
      await store.createAuthorizationCode(codeRecord(grant));
      assert.equal(await store.hasOutstandingCodeWithoutPkce(grant.clientId, grant.userId, NOW), false, "PKCE");
      const code = codeRecord(grant, { codeChallenge: null });
      await store.createAuthorizationCode(code);
      assert.equal(await store.hasOutstandingCodeWithoutPkce(grant.clientId, grant.userId, NOW), true);
      assert.equal(await store.hasOutstandingCodeWithoutPkce(grant.clientId, "someone-else", NOW), false);
      await store.redeemAuthorizationCode(code.hash, grant.clientId, NOW);
      assert.equal(await store.hasOutstandingCodeWithoutPkce(grant.clientId, grant.userId, NOW), false);
    });

    it("redeems a code once and tells reuse, expiry, revocation and strangers apart", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const code = codeRecord(grant);
      await store.createAuthorizationCode(code);
      assert.equal((await store.redeemAuthorizationCode(code.hash, "other-client", NOW)).status, "unknown");
      const redeemed = await store.redeemAuthorizationCode(code.hash, grant.clientId, NOW + 1);
      assert.deepEqual(redeemed, { status: "redeemed" });
      assert.deepEqual(await store.findAuthorizationCode(code.hash), { ...code, consumedAt: NOW + 1 });
      assert.equal(await store.findAuthorizationCode("missing"), undefined);
      const reused = await store.redeemAuthorizationCode(code.hash, grant.clientId, NOW + 2);
      assert.equal(reused.status, "reused");
      assert.equal(reused.status === "reused" && reused.code.grantId, grant.id);
      assert.equal((await store.redeemAuthorizationCode("missing", grant.clientId, NOW)).status, "unknown");

      const expired = codeRecord(grant, { expiresAt: NOW });
      await store.createAuthorizationCode(expired);
      assert.equal((await store.redeemAuthorizationCode(expired.hash, grant.clientId, NOW)).status, "expired");

      const revokedGrant = grantRecord({ revokedAt: NOW });
      await store.createGrant(revokedGrant);
      const orphan = codeRecord(revokedGrant);
      await store.createAuthorizationCode(orphan);
      assert.equal((await store.redeemAuthorizationCode(orphan.hash, revokedGrant.clientId, NOW)).status, "revoked");
    });

    it(`redeems a code for exactly one of ${CONCURRENCY} concurrent callers`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const code = codeRecord(grant);
      await store.createAuthorizationCode(code);
      const outcomes = await times(CONCURRENCY, () => store.redeemAuthorizationCode(code.hash, grant.clientId, NOW));
      const statuses = outcomes.map((o) => o.status);
      assert.equal(countOf(statuses, "redeemed"), 1);
      assert.equal(countOf(statuses, "reused"), CONCURRENCY - 1);
    });

    it(`lets one of ${CONCURRENCY} concurrent code exchanges issue tokens; the replays revoke the lineage`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const code = codeRecord(grant);
      await store.createAuthorizationCode(code);
      const exchange = () =>
        store.transaction(async (tx) => {
          const outcome = await tx.redeemAuthorizationCode(code.hash, grant.clientId, NOW);
          if (outcome.status === "reused") await tx.revokeGrant(grant.id, NOW);
          if (outcome.status === "redeemed")
            await tx.saveTokens([tokenRecord(grant, { kind: "access" }), tokenRecord(grant)]);
          return outcome.status;
        });
      const statuses = await times(CONCURRENCY, exchange);
      assert.equal(countOf(statuses, "redeemed"), 1);
      assert.equal(countOf(statuses, "reused"), CONCURRENCY - 1);
      assert.equal(await store.revokeGrant(grant.id, NOW), false, "the lineage is already revoked");
    });

    it(`exchanges a code once among ${CONCURRENCY} callers: only the one that redeemed it stores its tokens`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const code = codeRecord(grant);
      await store.createAuthorizationCode(code);
      const pairs = Array.from({ length: CONCURRENCY }, () => [
        tokenRecord(grant, { kind: "access" }),
        tokenRecord(grant),
      ]);
      const stranger = [tokenRecord(grant, { kind: "access" })];
      assert.equal((await store.exchangeAuthorizationCode(code.hash, "other-client", NOW, stranger)).status, "unknown");
      const outcomes = await Promise.all(
        pairs.map((pair) => store.exchangeAuthorizationCode(code.hash, grant.clientId, NOW, pair)),
      );
      await assertOnlyWinnerStored(store, pairs, outcomes, "redeemed");
      assert.equal(await store.findToken(stranger[0]?.hash ?? ""), undefined);

      const expired = codeRecord(grant, { expiresAt: NOW });
      await store.createAuthorizationCode(expired);
      const late = [tokenRecord(grant)];
      assert.equal((await store.exchangeAuthorizationCode(expired.hash, grant.clientId, NOW, late)).status, "expired");
      const revokedGrant = grantRecord({ revokedAt: NOW });
      await store.createGrant(revokedGrant);
      const orphan = codeRecord(revokedGrant);
      await store.createAuthorizationCode(orphan);
      const orphans = [tokenRecord(revokedGrant)];
      const outcome = await store.exchangeAuthorizationCode(orphan.hash, revokedGrant.clientId, NOW, orphans);
      assert.equal(outcome.status, "revoked");
      for (const token of [...late, ...orphans]) assert.equal(await store.findToken(token.hash), undefined);
    });

    it(`rotates a refresh token once among ${CONCURRENCY} callers: only the one that consumed it stores its tokens`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const refresh = tokenRecord(grant);
      const access = tokenRecord(grant, { kind: "access" });
      await store.saveTokens([refresh, access]);
      const pairs = Array.from({ length: CONCURRENCY }, () => [
        tokenRecord(grant, { kind: "access" }),
        tokenRecord(grant),
      ]);
      const refused = [tokenRecord(grant)];
      assert.equal((await store.rotateRefreshToken(access.hash, grant.clientId, NOW, refused)).status, "unknown");
      assert.equal((await store.rotateRefreshToken(refresh.hash, "other-client", NOW, refused)).status, "unknown");
      const outcomes = await Promise.all(
        pairs.map((pair) => store.rotateRefreshToken(refresh.hash, grant.clientId, NOW, pair)),
      );
      await assertOnlyWinnerStored(store, pairs, outcomes, "consumed");
      assert.equal(await store.findToken(refused[0]?.hash ?? ""), undefined);
      assert.equal((await store.findToken(refresh.hash))?.consumedAt, NOW);

      const expired = tokenRecord(grant, { expiresAt: NOW });
      await store.saveTokens([expired]);
      assert.equal((await store.rotateRefreshToken(expired.hash, grant.clientId, NOW, refused)).status, "expired");
      await store.revokeGrant(grant.id, NOW);
      const successor = pairs[outcomes.findIndex((o) => o.status === "consumed")]?.[1];
      assert.equal(successor?.kind, "refresh");
      assert.equal(
        (await store.rotateRefreshToken(successor?.hash ?? "", grant.clientId, NOW, refused)).status,
        "revoked",
      );
      assert.equal(await store.findToken(refused[0]?.hash ?? ""), undefined);
    });

    it(`answers a rotation again for each of ${CONCURRENCY} concurrent callers in turn, only while its successor is unused`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const parent = tokenRecord(grant);
      await store.saveTokens([parent]);
      /** A rotation's pair, minted at `at` as the grants do. */
      const pairAt = (at: number) => [
        tokenRecord(grant, { kind: "access", createdAt: at }),
        tokenRecord(grant, { createdAt: at }),
      ];
      const stored = async (token: TokenRecord | undefined) => store.findToken(token?.hash ?? "");

      assert.equal(
        (await store.replaceRotation(parent.hash, grant.clientId, NOW, pairAt(NOW))).status,
        "unknown",
        "never rotated",
      );
      const first = pairAt(NOW);
      assert.equal((await store.rotateRefreshToken(parent.hash, grant.clientId, NOW, first)).status, "consumed");
      const stranger = pairAt(NOW + 1);
      assert.equal((await store.replaceRotation(parent.hash, "other-client", NOW + 1, stranger)).status, "unknown");
      assert.equal(await stored(stranger[0]), undefined);

      // Concurrent retries take turns: each is answered, and replaces the pair the one before it stored.
      const pairs = Array.from({ length: CONCURRENCY }, () => pairAt(NOW + 2));
      const outcomes = await Promise.all(
        pairs.map((pair) => store.replaceRotation(parent.hash, grant.clientId, NOW + 2, pair)),
      );
      assert.deepEqual(new Set(outcomes.map((o) => o.status)), new Set(["consumed"]));
      const spent = async (pair: TokenRecord[]) => (await stored(pair[1]))?.consumedAt !== null;
      const live = [];
      for (const pair of pairs) if (!(await spent(pair))) live.push(pair);
      assert.equal(live.length, 1, "one live pair");
      for (const pair of pairs) {
        const [access, refresh] = await Promise.all(pair.map(stored));
        assert.equal(access?.consumedAt, refresh?.consumedAt, "a pair is replaced together");
      }
      for (const token of first) assert.equal((await stored(token))?.consumedAt, NOW + 2, `${token.kind} replaced`);
      assert.equal((await stored(parent))?.consumedAt, NOW, "the parent keeps its rotation's time");

      const again = pairAt(NOW + 3);
      assert.equal((await store.replaceRotation(parent.hash, grant.clientId, NOW + 3, again)).status, "consumed");
      for (const token of live[0] ?? []) assert.equal((await stored(token))?.consumedAt, NOW + 3);

      const next = pairAt(NOW + 4);
      assert.equal(
        (await store.rotateRefreshToken(again[1]?.hash ?? "", grant.clientId, NOW + 4, next)).status,
        "consumed",
      );
      const late = pairAt(NOW + 5);
      const refused = await store.replaceRotation(parent.hash, grant.clientId, NOW + 5, late);
      assert.equal(refused.status, "reused", "its successor was used");
      assert.equal(await stored(late[1]), undefined);
      for (const token of next)
        assert.equal((await stored(token))?.consumedAt, null, "the lineage's pair is untouched");
      assert.equal((await stored(again[1]))?.consumedAt, NOW + 4);

      const spentAlone = tokenRecord(grant);
      await store.saveTokens([spentAlone]);
      assert.equal((await store.consumeRefreshToken(spentAlone.hash, grant.clientId, NOW)).status, "consumed");
      const noSuccessor = await store.replaceRotation(spentAlone.hash, grant.clientId, NOW + 5, pairAt(NOW + 5));
      assert.equal(noSuccessor.status, "reused", "spent without naming a successor, as before 0010");

      await store.revokeGrant(grant.id, NOW + 6);
      const afterRevocation = await store.replaceRotation(
        again[1]?.hash ?? "",
        grant.clientId,
        NOW + 6,
        pairAt(NOW + 6),
      );
      assert.equal(afterRevocation.status, "reused");
      assert.equal((await stored(next[1]))?.consumedAt, null, "a revoked lineage's tokens are not replaced");
    });

    it("saves and finds tokens together with their lineage's state", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      await store.saveTokens([]);
      const access = tokenRecord(grant, { kind: "access" });
      const refresh = tokenRecord(grant);
      await store.saveTokens([access, refresh]);
      assert.deepEqual(await store.findToken(access.hash), { ...access, grantRevokedAt: null });
      assert.deepEqual(await store.findToken(refresh.hash), { ...refresh, grantRevokedAt: null });
      await store.revokeGrant(grant.id, NOW + 7);
      assert.equal((await store.findToken(access.hash))?.grantRevokedAt, NOW + 7);
      assert.equal(await store.findToken("missing"), undefined);
    });

    it("consumes a refresh token once and tells reuse, expiry, revocation and strangers apart", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const refresh = tokenRecord(grant);
      const access = tokenRecord(grant, { kind: "access" });
      const expired = tokenRecord(grant, { expiresAt: NOW });
      await store.saveTokens([refresh, access, expired]);
      assert.equal((await store.consumeRefreshToken(access.hash, grant.clientId, NOW)).status, "unknown");
      assert.equal((await store.consumeRefreshToken(refresh.hash, "other-client", NOW)).status, "unknown");
      assert.equal((await store.consumeRefreshToken("missing", grant.clientId, NOW)).status, "unknown");
      assert.equal((await store.consumeRefreshToken(expired.hash, grant.clientId, NOW)).status, "expired");
      const consumed = await store.consumeRefreshToken(refresh.hash, grant.clientId, NOW + 1);
      assert.deepEqual(consumed, { status: "consumed" });
      assert.deepEqual(await store.findToken(refresh.hash), { ...refresh, consumedAt: NOW + 1, grantRevokedAt: null });
      const reused = await store.consumeRefreshToken(refresh.hash, grant.clientId, NOW + 2);
      assert.equal(reused.status, "reused");

      const revokedGrant = grantRecord({ revokedAt: NOW });
      await store.createGrant(revokedGrant);
      const orphan = tokenRecord(revokedGrant);
      await store.saveTokens([orphan]);
      assert.equal((await store.consumeRefreshToken(orphan.hash, revokedGrant.clientId, NOW)).status, "revoked");
    });

    it(`consumes a refresh token for exactly one of ${CONCURRENCY} concurrent callers`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const refresh = tokenRecord(grant);
      await store.saveTokens([refresh]);
      const outcomes = await times(CONCURRENCY, () => store.consumeRefreshToken(refresh.hash, grant.clientId, NOW));
      const statuses = outcomes.map((o) => o.status);
      assert.equal(countOf(statuses, "consumed"), 1);
      assert.equal(countOf(statuses, "reused"), CONCURRENCY - 1);
    });

    it(`rotates a refresh token for one of ${CONCURRENCY} concurrent callers; reuse revokes the lineage`, async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const refresh = tokenRecord(grant);
      await store.saveTokens([refresh]);
      const rotate = () =>
        store.transaction(async (tx) => {
          const outcome = await tx.consumeRefreshToken(refresh.hash, grant.clientId, NOW);
          if (outcome.status === "reused") await tx.revokeGrant(grant.id, NOW);
          if (outcome.status === "consumed")
            await tx.saveTokens([tokenRecord(grant, { kind: "access" }), tokenRecord(grant)]);
          return outcome.status;
        });
      const statuses = await times(CONCURRENCY, rotate);
      assert.equal(countOf(statuses, "consumed"), 1);
      assert.equal(countOf(statuses, "reused"), CONCURRENCY - 1);
      assert.notEqual((await store.findToken(refresh.hash))?.grantRevokedAt, null);
    });

    it("commits a transaction's changes together or not at all (revoking a lineage and its consent)", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      const consent = { clientId: grant.clientId, userId: grant.userId, scopes: ["profile:read"], updatedAt: NOW };
      await store.saveConsent(consent);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.revokeGrant(grant.id, NOW);
          await tx.deleteConsent(grant.clientId, grant.userId);
          throw new Error("abort");
        }),
        /abort/,
      );
      assert.deepEqual(await store.getConsent(grant.clientId, grant.userId), consent);
      assert.equal(await store.revokeGrant(grant.id, NOW), true, "the rolled-back revocation left the lineage live");
      await store.saveConsent(consent);
      const nested = await store.transaction(async (tx) => {
        await tx.deleteConsent(grant.clientId, grant.userId);
        return tx.transaction(async (inner) => inner.getConsent(grant.clientId, grant.userId));
      });
      assert.equal(nested, undefined, "a nested transaction runs inside the outer one");
      assert.equal(await store.getConsent(grant.clientId, grant.userId), undefined);
    });

    it(
      "retries a transaction that lost a deadlock",
      async (store) => {
        const first = grantRecord();
        const second = grantRecord();
        await store.createGrant(first);
        await store.createGrant(second);
        let arrived = 0;
        const bothLocked = signal();
        let attempts = 0;
        const crossUpdate = (a: string, b: string) =>
          store.transaction(async (tx) => {
            attempts++;
            await tx.revokeGrant(a, NOW);
            if (++arrived === 2) bothLocked.fire();
            await bothLocked.fired;
            await tx.revokeGrant(b, NOW);
          });
        await Promise.all([crossUpdate(first.id, second.id), crossUpdate(second.id, first.id)]);
        assert.equal(attempts, 3, "the deadlock victim ran once more");
      },
      engine === "sqlite" ? { skip: "SQLite has one connection per process, so transactions cannot interleave" } : {},
    );

    it("keeps one current signing key, lists published keys newest first and retires them", async (store) => {
      const first = signingKeyRecord({ createdAt: NOW });
      await store.addSigningKey(first);
      await assert.rejects(store.addSigningKey(signingKeyRecord({ createdAt: NOW + 1 })), DuplicateError);
      await store.retireSigningKeys(NOW + 10, NOW + HOUR, "tokens");
      const second = signingKeyRecord({ createdAt: NOW + 10 });
      await store.addSigningKey(second);
      const gone = signingKeyRecord({ createdAt: NOW - 5, retiredAt: NOW - 4, publishUntil: NOW - 1 });
      await store.addSigningKey(gone);
      assert.deepEqual(await store.listSigningKeys(NOW + 20), [
        second,
        { ...first, retiredAt: NOW + 10, publishUntil: NOW + HOUR },
      ]);
      assert.deepEqual(await store.listSigningKeys(NOW + HOUR), [second]);
    });

    it("keeps a current key for each purpose, and lists and retires each purpose's alone", async (store) => {
      const tokens = signingKeyRecord({ createdAt: NOW });
      const webhooks = signingKeyRecord({ createdAt: NOW + 1, alg: "EdDSA", purpose: "webhooks" });
      await store.addSigningKey(tokens);
      await store.addSigningKey(webhooks);
      const another = signingKeyRecord({ createdAt: NOW + 2, alg: "EdDSA", purpose: "webhooks" });
      await assert.rejects(store.addSigningKey(another), DuplicateError);
      assert.deepEqual(await store.listSigningKeys(NOW + 5, "tokens"), [tokens]);
      assert.deepEqual(await store.listSigningKeys(NOW + 5, "webhooks"), [webhooks]);
      assert.deepEqual(await store.listSigningKeys(NOW + 5), [tokens], "token keys unless told");

      await store.retireSigningKeys(NOW + 10, NOW + HOUR, "webhooks");
      const next = signingKeyRecord({ createdAt: NOW + 10, alg: "EdDSA", purpose: "webhooks" });
      await store.addSigningKey(next);
      assert.deepEqual(await store.listSigningKeys(NOW + 20, "webhooks"), [
        next,
        { ...webhooks, retiredAt: NOW + 10, publishUntil: NOW + HOUR },
      ]);
      assert.deepEqual(await store.listSigningKeys(NOW + 20, "tokens"), [tokens], "the token key stays current");
    });

    it("lets one of many instances starting at once create the first signing key", async (store) => {
      const results = await times(10, (i) =>
        store.addSigningKey(signingKeyRecord({ createdAt: NOW + i })).then(
          () => "added",
          (error) => (error instanceof DuplicateError ? "duplicate" : Promise.reject(error)),
        ),
      );
      assert.equal(countOf(results, "added"), 1);
      assert.equal((await store.listSigningKeys(NOW)).length, 1);
    });

    it("creates, finds and deletes sessions; an expired one is not found", async (store) => {
      const session = sessionRecord();
      await storeSession(store, session);
      assert.deepEqual(await store.findSession(session.hash, NOW), session);
      assert.equal(await store.findSession(session.hash, session.expiresAt), undefined);
      await store.deleteSession(session.hash);
      assert.equal(await store.findSession(session.hash, NOW), undefined);
    });

    it("prunes expired records and empty lineages in batches, keeping everything still live", async (store) => {
      const later = NOW + 2 * HOUR;
      const empty = grantRecord({ createdAt: NOW - 2 * HOUR });
      const young = grantRecord({ createdAt: later - 60_000 });
      const live = grantRecord({ createdAt: NOW - 2 * HOUR });
      for (const grant of [empty, young, live]) await store.createGrant(grant);
      const expiredCodes = [codeRecord(empty), codeRecord(empty, { consumedAt: NOW })];
      const liveCode = codeRecord(live, { codeChallenge: null, expiresAt: later + 1 });
      for (const code of [...expiredCodes, liveCode]) await store.createAuthorizationCode(code);
      const expiredTokens = Array.from({ length: 7 }, () => tokenRecord(empty));
      const liveToken = tokenRecord(live, { expiresAt: later + HOUR, consumedAt: NOW });
      await store.saveTokens([...expiredTokens, liveToken]);
      const sessions = [sessionRecord(), sessionRecord({ expiresAt: later + 1 })];
      for (const session of sessions) await storeSession(store, session);

      const current = signingKeyRecord({ createdAt: NOW });
      const published = signingKeyRecord({ createdAt: NOW - 2, retiredAt: NOW, publishUntil: later + 1 });
      const unpublished = signingKeyRecord({ createdAt: NOW - 1, retiredAt: NOW, publishUntil: later });
      const webhookKey = { alg: "EdDSA", purpose: "webhooks" } as const;
      const currentWebhookKey = signingKeyRecord({ ...webhookKey, createdAt: NOW });
      const unpublishedWebhookKey = signingKeyRecord({ ...webhookKey, retiredAt: NOW, publishUntil: later });
      for (const key of [current, published, unpublished, currentWebhookKey, unpublishedWebhookKey]) {
        await store.addSigningKey(key);
      }

      const counts = await store.pruneExpired(later, 3);
      assert.deepEqual(counts, { authorizationCodes: 2, tokens: 7, sessions: 1, grants: 1, signingKeys: 2 });
      assert.deepEqual(
        (await store.listSigningKeys(0)).map((key) => key.kid),
        [current.kid, published.kid],
        "only the retired key past its publication is deleted",
      );
      assert.deepEqual(
        (await store.listSigningKeys(0, "webhooks")).map((key) => key.kid),
        [currentWebhookKey.kid],
      );
      assert.equal(await store.findToken(expiredTokens[0]?.hash ?? ""), undefined);
      assert.equal(
        (await store.findToken(liveToken.hash))?.hash,
        liveToken.hash,
        "a consumed refresh token stays until it expires",
      );
      assert.equal(await store.hasOutstandingCodeWithoutPkce(live.clientId, live.userId, later), true);
      assert.deepEqual(await store.findSession(sessions[1]?.hash ?? "", later), sessions[1]);
      assert.equal(await store.revokeGrant(empty.id, later), false, "the empty lineage is gone");
      assert.equal(await store.revokeGrant(young.id, later), true, "a young lineage is kept");
      assert.equal(await store.revokeGrant(live.id, later), true);
    });

    it("prunes empty lineages among live ones, range by range, in batches that fill up", async (store) => {
      const later = NOW + 2 * HOUR;
      const empty = Array.from({ length: 30 }, () => grantRecord({ createdAt: NOW - 2 * HOUR }));
      const live = Array.from({ length: 30 }, () => grantRecord({ createdAt: NOW - 2 * HOUR }));
      for (const grant of [...empty, ...live]) await store.createGrant(grant);
      await store.saveTokens(live.map((grant) => tokenRecord(grant, { expiresAt: later + HOUR })));
      // Batches of 2 read ranges of 20 grants: three ranges, most holding more than one batch to delete.
      assert.equal((await store.pruneExpired(later, 2)).grants, 30);
      for (const grant of empty) assert.equal(await store.revokeGrant(grant.id, later), false, "pruned");
      for (const grant of live) assert.equal(await store.revokeGrant(grant.id, later), true, "kept");
      assert.equal((await store.pruneExpired(later, 2)).grants, 0);
    });

    it("prunes safely from several instances at once", async (store) => {
      const grant = grantRecord();
      await store.createGrant(grant);
      await store.saveTokens(Array.from({ length: 60 }, () => tokenRecord(grant, { expiresAt: NOW })));
      const runs = await times(4, () => store.pruneExpired(NOW, 10));
      assert.equal(
        runs.reduce((sum, c) => sum + c.tokens, 0),
        60,
      );
      assert.deepEqual(await store.pruneExpired(NOW, 10), {
        authorizationCodes: 0,
        tokens: 0,
        sessions: 0,
        grants: 0,
        signingKeys: 0,
      });
    });
  });
}
