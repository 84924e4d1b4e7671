import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  assertCalError,
  authorize,
  codeFrom,
  exchangeCode,
  introspect,
  JSON_TYPE,
  keysFrom,
  obtainKeys,
  refresh,
  sessionCookie,
} from "./support/cal-flow.js";
import { createHarness, type Harness } from "./support/harness.js";

let h: Harness;
before(async () => {
  h = await createHarness({ KEYWARD_CODE_TTL: "1" });
});
after(() => h.close());

async function freshCode() {
  const client = await h.createClient();
  const user = await h.createUser();
  const code = codeFrom(await authorize(h, client.clientId, { cookie: await sessionCookie(h, user) }));
  return { client, user, code };
}

test("a wrong secret or a wrong client id is 400 Invalid OAuth Client., and the code survives", async () => {
  const { client, code } = await freshCode();
  const other = await h.createClient();
  for (const options of [
    { clientSecret: `${client.clientSecret}x` },
    { clientSecret: other.clientSecret },
    { clientId: other.clientId },
    { clientId: other.clientId, clientSecret: other.clientSecret },
    { clientId: "OC-nosuchclient" },
  ]) {
    const res = await exchangeCode(h, client, code, options);
    assertCalError(res, 400, "BadRequestException", "Invalid OAuth Client.");
  }
  keysFrom(await exchangeCode(h, client, code));
});

test("an unknown code is 400 Invalid OAuth Client.", async () => {
  const client = await h.createClient();
  const res = await exchangeCode(h, client, "not-a-code");
  assertCalError(res, 400, "BadRequestException", "Invalid OAuth Client.");
});

test("a missing, empty or non-Bearer Authorization header is 400", async () => {
  const { client, code } = await freshCode();
  const url = `/v2/oauth/${client.clientId}/exchange`;
  const payload = JSON.stringify({ clientSecret: client.clientSecret });
  for (const authorization of [undefined, "", "Bearer", "Bearer ", "Bearer    ", `Basic ${code}`, code]) {
    const headers: Record<string, string> = { ...JSON_TYPE };
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await h.app.inject({ method: "POST", url, headers, payload });
    assertCalError(res, 400, "BadRequestException", "Missing 'Bearer' Authorization header.");
  }
  keysFrom(await exchangeCode(h, client, code));
});

const postExchange = (clientId: string, headers: Record<string, string>, payload: string) =>
  h.app.inject({ method: "POST", url: `/v2/oauth/${clientId}/exchange`, headers, payload });

test("the body is validated before the code is read, as in Cal.com", async () => {
  const client = await h.createClient();
  const res = await postExchange(client.clientId, {}, "");
  assertCalError(res, 400, "BadRequestException", "clientSecret must be a string");
});

test("an empty clientSecret is a string, and a wrong secret", async () => {
  const { client, code } = await freshCode();
  const res = await postExchange(
    client.clientId,
    { ...JSON_TYPE, authorization: `Bearer ${code}` },
    JSON.stringify({ clientSecret: "" }),
  );
  assertCalError(res, 400, "BadRequestException", "Invalid OAuth Client.");
  keysFrom(await exchangeCode(h, client, code));
});

test("a body that is not JSON reads as no body: a validation error, and the code survives", async () => {
  const { client, code } = await freshCode();
  const res = await postExchange(
    client.clientId,
    { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${code}` },
    `clientSecret=${encodeURIComponent(client.clientSecret)}`,
  );
  assertCalError(res, 400, "BadRequestException", "clientSecret must be a string");
  keysFrom(await exchangeCode(h, client, code));
});

test("a missing clientSecret is a validation error", async () => {
  const { client, code } = await freshCode();
  const res = await postExchange(
    client.clientId,
    { ...JSON_TYPE, authorization: `Bearer ${code}` },
    JSON.stringify({ secret: client.clientSecret }),
  );
  const error = assertCalError(res, 400, "BadRequestException", "clientSecret must be a string");
  assert.deepEqual(error.details, {
    errors: [{ property: "clientSecret", constraints: { isString: "clientSecret must be a string" } }],
  });
});

test("a code is single-use, and its reuse revokes every token it produced", async () => {
  const { client, code, keys } = await obtainKeys(h);
  assert.equal((await introspect(h, client, keys.accessToken)).active, true);
  const again = await exchangeCode(h, client, code);
  assertCalError(again, 400, "BadRequestException", "Invalid OAuth Client.");
  assert.equal((await introspect(h, client, keys.accessToken)).active, false);
  assert.equal((await introspect(h, client, keys.refreshToken)).active, false);
  assertCalError(await refresh(h, client, keys.refreshToken), 400, "BadRequestException", "Invalid refresh token");
});

test("an expired code is refused", async () => {
  const { client, code } = await freshCode();
  h.advanceClock(1500);
  const res = await exchangeCode(h, client, code);
  assertCalError(res, 400, "BadRequestException", "Invalid OAuth Client.");
});

test("an expired code no longer counts as outstanding", async () => {
  const client = await h.createClient();
  const user = await h.createUser();
  const cookie = await sessionCookie(h, user);
  codeFrom(await authorize(h, client.clientId, { cookie }));
  assertCalError(await authorize(h, client.clientId, { cookie }), 400, "BadRequestException");
  h.advanceClock(1500);
  codeFrom(await authorize(h, client.clientId, { cookie }));
});
