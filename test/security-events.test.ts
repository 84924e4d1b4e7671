import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { authorize, codeFrom, exchangeCode, keysFrom, obtainKeys, refresh, sessionCookie } from "./support/cal-flow.js";
import { createHarness, type Harness } from "./support/harness.js";

let h: Harness;
let lines: Record<string, unknown>[] = [];

before(async () => {
  const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
  h = await createHarness({}, { level: "info", stream });
});
beforeEach(() => {
  lines = [];
});
after(() => h.close());

const warnings = () => lines.filter((line) => line.level === 40);

/** Exactly one warning, for `event`, naming the client and the user and nothing secret. */
function assertOneWarning(event: string, clientId: string, userId: string, secrets: string[]) {
  const [warning, ...more] = warnings();
  assert.equal(more.length, 0, JSON.stringify(lines));
  assert.ok(warning, `a warning for ${event}`);
  assert.equal(warning.event, event);
  assert.equal(warning.client_id, clientId);
  assert.equal(warning.user_id, userId);
  assert.match(String(warning.msg), /used twice: its lineage is revoked/);
  assert.ok(warning.reqId, "the warning carries its request id");
  const text = JSON.stringify(lines);
  for (const secret of secrets) assert.ok(!text.includes(secret), "no token value is logged");
}

test("a refresh token used twice is logged once, when its lineage is revoked", async () => {
  const client = await h.createClient();
  const user = await h.createUser();
  const first = (await h.exchangeCode(client, user)).json();
  const second = (await h.refresh(client, first.refresh_token)).json();
  assert.equal(warnings().length, 0, "ordinary use logs nothing");

  const replay = await h.refresh(client, first.refresh_token);
  assert.equal(replay.json().error, "invalid_grant");
  assertOneWarning("refresh_token_reused", client.clientId, user.userId, [first.refresh_token, second.refresh_token]);
  assert.equal((await h.refresh(client, second.refresh_token)).json().error, "invalid_grant", "the lineage is dead");

  lines = [];
  await h.refresh(client, first.refresh_token);
  assert.equal(warnings().length, 0, "replaying a dead lineage's token is not news");
});

test("an authorization code used twice is logged once", async () => {
  const client = await h.createClient();
  const user = await h.createUser();
  const issued = await h.issueCode(client, user, { explicitRedirect: false });
  const redeem = () =>
    h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: client.basic },
      payload: new URLSearchParams({
        grant_type: "authorization_code",
        code: issued.code,
        code_verifier: issued.verifier,
      }).toString(),
    });
  assert.equal((await redeem()).statusCode, 200);
  assert.equal((await redeem()).json().error, "invalid_grant");
  assertOneWarning("authorization_code_reused", client.clientId, user.userId, [issued.code]);
});

test("Cal.com's exchange and refresh log reuse the same way", async () => {
  const { client, user, code, keys } = await obtainKeys(h);
  lines = [];
  assert.equal((await exchangeCode(h, client, code)).statusCode, 400);
  assertOneWarning("authorization_code_reused", client.clientId, user.userId, [code]);

  const cookie = await sessionCookie(h, user);
  const fresh = keysFrom(await exchangeCode(h, client, codeFrom(await authorize(h, client.clientId, { cookie }))));
  keysFrom(await refresh(h, client, fresh.refreshToken));
  lines = [];
  assert.equal((await refresh(h, client, fresh.refreshToken)).statusCode, 400);
  assertOneWarning("refresh_token_reused", client.clientId, user.userId, [fresh.refreshToken, keys.refreshToken]);
});
