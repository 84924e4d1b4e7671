import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runUsersCommand } from "../src/cli/users.js";
import { findSession, startSession } from "../src/core/sessions.js";
import { checkCredentials } from "../src/core/users.js";
import { createHarness, type Harness, type TestClient, type TestUser } from "./support/harness.js";

let h: Harness;
let client: TestClient;
before(async () => {
  h = await createHarness();
  client = await h.createClient();
});
after(() => h.close());

async function tokensFor(user: TestUser): Promise<{ access_token: string; refresh_token: string }> {
  const res = await h.exchangeCode(client, user);
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** Runs a `keyward users` command against the harness's database; what it prints is kept, out of the test log. */
async function usersPrinting(
  sub: string,
  values: { email?: string; password?: string; client?: string; json?: boolean },
): Promise<{ status: number; printed: string }> {
  const write = process.stdout.write;
  let printed = "";
  process.stdout.write = (chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  };
  try {
    return { status: await runUsersCommand(h.runtime, sub, values), printed };
  } finally {
    process.stdout.write = write;
  }
}

const storedUser = async (id: string) => {
  const user = await h.runtime.core.store.getUserById(id);
  assert.ok(user);
  return user;
};

const users = async (sub: string, values: { email?: string; password?: string; client?: string }) =>
  (await usersPrinting(sub, values)).status;

test("users delete: the user's tokens, sessions and consents go; another user's stay", async () => {
  const [gone, kept] = [await h.createUser(), await h.createUser()];
  const goneTokens = await tokensFor(gone);
  const keptTokens = await tokensFor(kept);
  const session = await startSession(h.runtime.core, await storedUser(gone.userId), 3_600_000);
  assert.ok(await findSession(h.runtime.core, session));

  assert.equal(await users("delete", { email: gone.email.toUpperCase() }), 0);

  assert.equal((await h.profile(goneTokens.access_token)).statusCode, 401);
  assert.equal((await h.refresh(client, goneTokens.refresh_token)).json().error, "invalid_grant");
  assert.equal(await h.runtime.core.store.getConsent(client.clientId, gone.userId), undefined);
  assert.equal(await findSession(h.runtime.core, session), undefined);
  assert.equal(await checkCredentials(h.runtime.core, gone.email, gone.password), undefined);

  assert.equal((await h.profile(keptTokens.access_token)).statusCode, 200);
  assert.equal((await h.refresh(client, keptTokens.refresh_token)).statusCode, 200);
  assert.equal(await users("delete", { email: gone.email }), 1, "a second delete finds no one");
});

test("users set-password: the new password signs in, the old does not, sessions end, tokens stay", async () => {
  const user = await h.createUser();
  const tokens = await tokensFor(user);
  const session = await startSession(h.runtime.core, await storedUser(user.userId), 3_600_000);
  assert.ok(await findSession(h.runtime.core, session));

  assert.equal(await users("set-password", { email: user.email, password: "a brand new passphrase" }), 0);

  assert.equal(await checkCredentials(h.runtime.core, user.email, user.password), undefined);
  assert.equal((await checkCredentials(h.runtime.core, user.email, "a brand new passphrase"))?.id, user.userId);
  assert.equal(await findSession(h.runtime.core, session), undefined);
  assert.equal((await h.profile(tokens.access_token)).statusCode, 200, "integrations keep what the user granted");
  assert.equal(await users("set-password", { email: "nobody@example.com", password: "long enough" }), 1);
});

test("users show: the user and the integrations they connected, with what each may do", async () => {
  const user = await h.createUser();
  await tokensFor(user);
  const shown = await usersPrinting("show", { email: user.email, json: true });
  assert.equal(shown.status, 0);
  const printed = JSON.parse(shown.printed);
  assert.equal(printed.user_id, user.userId);
  assert.equal(printed.email, user.email);
  assert.equal(printed.connections.length, 1);
  const [connection] = printed.connections;
  assert.equal(connection.client_id, client.clientId);
  assert.equal(connection.client_name, "Test Integration");
  assert.match(connection.scope, /(^| )profile:read( |$)/);
  assert.ok(Date.parse(connection.connected_at) <= Date.now(), connection.connected_at);
  assert.match(
    (await usersPrinting("show", { email: user.email })).printed,
    new RegExp(`connections\\s+${client.clientId} \\(Test Integration\\): .*profile:read`),
  );

  const lonely = await h.createUser();
  assert.match((await usersPrinting("show", { email: lonely.email })).printed, /connections\s+\(none\)/);
  assert.equal(await users("show", { email: "nobody@example.com" }), 1);
});

test("users disconnect: that integration's tokens and the consent go; other integrations' and users' stay", async () => {
  const [user, other] = [await h.createUser(), await h.createUser()];
  const second = await h.createClient();
  const tokens = await tokensFor(user);
  const othersTokens = await tokensFor(other);
  const kept = (await h.exchangeCode(second, user)).json();

  const done = await usersPrinting("disconnect", {
    email: user.email.toUpperCase(),
    client: client.clientId,
    json: true,
  });
  assert.equal(done.status, 0);
  assert.deepEqual(JSON.parse(done.printed), {
    user_id: user.userId,
    email: user.email,
    client_id: client.clientId,
    disconnected: true,
  });

  assert.equal((await h.profile(tokens.access_token)).statusCode, 401);
  assert.equal((await h.refresh(client, tokens.refresh_token)).json().error, "invalid_grant");
  assert.equal(await h.runtime.core.store.getConsent(client.clientId, user.userId), undefined);
  assert.equal((await h.profile(kept.access_token)).statusCode, 200, "the user's other integration stays");
  assert.equal((await h.profile(othersTokens.access_token)).statusCode, 200, "another user's connection stays");

  assert.equal(
    await users("disconnect", { email: user.email, client: client.clientId }),
    1,
    "nothing left to withdraw",
  );
  assert.equal(await users("disconnect", { email: "nobody@example.com", client: client.clientId }), 1);
});
