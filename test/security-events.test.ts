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

/** A sign-in through the real /login form from `address`; resolves with the status. */
async function signInFrom(address: string, email: string, password: string): Promise<number> {
  const page = await h.app.inject({ method: "GET", url: "/login", remoteAddress: address });
  const csrfCookie = /keyward_csrf=([^;]+)/.exec(String(page.headers["set-cookie"]))?.[1];
  const csrfToken = /name="csrf_token" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(csrfCookie && csrfToken);
  const res = await h.app.inject({
    method: "POST",
    url: "/login",
    remoteAddress: address,
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `keyward_csrf=${csrfCookie}` },
    payload: new URLSearchParams({ csrf_token: csrfToken, email, password }).toString(),
  });
  return res.statusCode;
}

test("an account's sign-ins refused for failures are logged once, by user id, never by email", async () => {
  const user = await h.createUser({ email: "guessed@example.com" });
  for (let i = 0; i < 5; i++) assert.equal(await signInFrom(`10.1.0.${i}`, user.email, `wrong-${i}`), 401);
  assert.equal(warnings().length, 0, "failures short of the limit are not news");
  for (let i = 0; i < 4; i++) assert.equal(await signInFrom(`10.1.1.${i}`, user.email, user.password), 429);
  const [warning, ...more] = warnings();
  assert.equal(more.length, 0, JSON.stringify(lines));
  assert.equal(warning?.event, "sign_in_throttled");
  assert.equal(warning?.limited, "account");
  assert.equal(warning?.user_id, user.userId);
  assert.equal(warning?.address, "10.1.1.0");
  assert.ok(Number(warning?.retry_after) >= 1);
  assert.ok(!JSON.stringify(lines).includes("guessed@"), "the email is not logged");

  lines = [];
  for (let i = 0; i < 5; i++) assert.equal(await signInFrom(`10.1.2.${i}`, "nobody@example.com", "whatever1"), 401);
  for (let i = 0; i < 3; i++) assert.equal(await signInFrom(`10.1.3.${i}`, "nobody@example.com", "whatever1"), 429);
  const [unknown, ...others] = warnings();
  assert.equal(others.length, 0, JSON.stringify(lines));
  assert.equal(unknown?.account_exists, false);
  assert.equal(unknown?.user_id, undefined);
  assert.ok(!JSON.stringify(lines).includes("nobody@"), "nor an email no account has");
});

test("an address refused for guessing across accounts is logged once", async () => {
  for (let i = 0; i < 20; i++) assert.equal(await signInFrom("10.2.0.1", `spray-${i}@example.com`, "password1"), 401);
  for (let i = 0; i < 3; i++) assert.equal(await signInFrom("10.2.0.1", `spray-x${i}@example.com`, "password1"), 429);
  const [warning, ...more] = warnings();
  assert.equal(more.length, 0, JSON.stringify(lines));
  assert.equal(warning?.event, "sign_in_throttled");
  assert.equal(warning?.limited, "address");
  assert.equal(warning?.address, "10.2.0.1");
  assert.equal(warning?.user_id, undefined);
});
