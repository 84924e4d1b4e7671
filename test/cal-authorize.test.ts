import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkCalAuthorization } from "../src/core/authorization.js";
import {
  assertCalError,
  authorize,
  codeFrom,
  exchangeCode,
  ISSUER_ORIGIN,
  JSON_TYPE,
  keysFrom,
  sessionCookie,
} from "./support/cal-flow.js";
import { createHarness, type Harness, REDIRECT_URI, SCOPES } from "./support/harness.js";
import { authorizeUrl as canvaAuthorizeUrl, InjectBrowser } from "./support/inject-browser.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

async function signedInUser() {
  const user = await h.createUser();
  return { user, cookie: await sessionCookie(h, user) };
}

test("an unknown client is 400 with Cal.com's message", async () => {
  const { cookie } = await signedInUser();
  const res = await authorize(h, "OC-nosuchclient", { cookie });
  assertCalError(res, 400, "BadRequestException", "OAuth client with ID 'OC-nosuchclient' not found");
});

test("a redirect URI the client did not register is 400", async () => {
  const client = await h.createClient();
  const { cookie } = await signedInUser();
  for (const redirectUri of [`${REDIRECT_URI}/more`, "https://client.example/callbacK", `${REDIRECT_URI}?x=1`]) {
    const res = await authorize(h, client.clientId, { cookie, redirectUri });
    assertCalError(res, 400, "BadRequestException", "Invalid 'redirect_uri' value.");
  }
});

test("a registered glob matches, anchored, with host wildcards confined to the host", async () => {
  const client = await h.createClient({ redirectUris: ["https://*.example.com/*"] });
  const { cookie } = await signedInUser();
  const ok = await authorize(h, client.clientId, { cookie, redirectUri: "https://app.example.com/oauth/done" });
  assert.ok(String(ok.headers.location).startsWith("https://app.example.com/oauth/done?code="));
  codeFrom(ok);

  for (const redirectUri of [
    "https://evil.com/.example.com/",
    "https://evil.com?.example.com/",
    "https://evil.com#.example.com/",
    "https://user@evil.com/x.example.com/",
    "http://app.example.com/oauth/done",
    "https://app.example.com.evil.com/",
    "https://app.example.com",
    "https://app.example.com/\u0001",
    "https://app.example.com/a\r\nSet-Cookie: x=1",
    "https://app.example.com/\u20ac",
    'https://app.example.com/"><script>',
  ]) {
    const res = await authorize(h, client.clientId, { cookie, redirectUri });
    assertCalError(res, 400, "BadRequestException", "Invalid 'redirect_uri' value.");
  }
});

test("the code is appended to a redirect URI that already has a query", async () => {
  const registered = "https://client.example/callback?tenant=a%20b";
  const client = await h.createClient({ redirectUris: [registered] });
  const { cookie } = await signedInUser();
  const res = await authorize(h, client.clientId, { cookie, redirectUri: registered });
  const location = String(res.headers.location);
  assert.match(location, /^https:\/\/client\.example\/callback\?tenant=a%20b&code=[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
  assert.equal(new URL(location).searchParams.get("tenant"), "a b");
  const keys = keysFrom(await exchangeCode(h, client, codeFrom(res)));
  assert.ok(keys.accessToken);
});

test("a second authorize while a code is outstanding is 400; after the exchange it works again", async () => {
  const client = await h.createClient();
  const { user, cookie } = await signedInUser();
  const code = codeFrom(await authorize(h, client.clientId, { cookie }));
  const ownerId = h.runtime.core.keys.pairwiseId(client.clientId, user.userId);
  const again = await authorize(h, client.clientId, { cookie });
  assertCalError(
    again,
    400,
    "BadRequestException",
    `User with id=${ownerId} has already authorized client with id=${client.clientId}.`,
  );
  const other = await signedInUser();
  codeFrom(await authorize(h, client.clientId, { cookie: other.cookie }));
  keysFrom(await exchangeCode(h, client, code));
  codeFrom(await authorize(h, client.clientId, { cookie }));
});

test("a code the Canva page issued, with PKCE, is not this flow's outstanding code", async () => {
  // A cross-site link can have the page issue one for a user who consented before; it must not block this flow.
  const client = await h.createClient();
  const { user, cookie } = await signedInUser();
  const page = await new InjectBrowser(h).authorize(canvaAuthorizeUrl(client.clientId), user);
  assert.match(String(page.headers.location), /[?&]code=/);
  codeFrom(await authorize(h, client.clientId, { cookie }));
});

/**
 * Authorizes one client for one user eight times at once, through each of `harnesses` in turn
 * (several servers on one database); returns the statuses.
 */
async function concurrentAuthorizations(harnesses: Harness[]): Promise<number[]> {
  const [first] = harnesses;
  assert.ok(first);
  const client = await first.createClient();
  const cookie = await sessionCookie(first, await first.createUser());
  const responses = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      authorize(harnesses[i % harnesses.length] ?? first, client.clientId, { cookie }),
    ),
  );
  return responses.map((res) => res.statusCode).sort();
}

const ONE_CODE_OF_EIGHT = [302, 400, 400, 400, 400, 400, 400, 400];

test("concurrent authorizes of one client by one user, through two servers on one SQLite file, issue one code", async () => {
  const directory = mkdtempSync(join(tmpdir(), "keyward-cal-"));
  const env = { DATABASE_URL: join(directory, "keyward.db") };
  const servers = [await createHarness(env), await createHarness(env)];
  try {
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(await concurrentAuthorizations(servers), ONE_CODE_OF_EIGHT);
    }
  } finally {
    for (const server of servers) await server.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test("concurrent authorizes issue one code on PostgreSQL too", { skip: PG_SKIP }, async () => {
  const schema = await createTestSchema();
  const onPostgres = await createHarness({ DATABASE_URL: schema.url });
  try {
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(await concurrentAuthorizations([onPostgres]), ONE_CODE_OF_EIGHT);
    }
  } finally {
    await onPostgres.close();
    await schema.drop();
  }
});

test("authorizing records consent for the client's registered scopes", async () => {
  const client = await h.createClient();
  const { user, cookie } = await signedInUser();
  codeFrom(await authorize(h, client.clientId, { cookie }));
  const consent = await h.runtime.core.store.getConsent(client.clientId, user.userId);
  assert.deepEqual(consent?.scopes, SCOPES.split(" "));
});

test("the core checks a Cal.com authorization and returns its refusals as values", async () => {
  const core = h.runtime.core;
  const client = await h.createClient({ redirectUris: [REDIRECT_URI, "https://*.example.com/*"] });
  const unknown = await checkCalAuthorization(core, "OC-nosuchclient", REDIRECT_URI);
  assert.deepEqual(unknown, { ok: false, error: { code: "invalid_client", description: "Unknown client_id" } });
  const unregistered = await checkCalAuthorization(core, client.clientId, "https://evil.com/.example.com/");
  assert.equal(unregistered.ok, false);
  assert.equal(!unregistered.ok && unregistered.error.code, "invalid_request");
  for (const redirectUri of [REDIRECT_URI, "https://app.example.com/done"]) {
    const valid = await checkCalAuthorization(core, client.clientId, redirectUri);
    assert.ok(valid.ok);
    assert.equal(valid.value.client.id, client.clientId);
    assert.deepEqual(valid.value.scopes, SCOPES.split(" "));
  }
});

test("no session, or a session cookie that is not one, is 401", async () => {
  const client = await h.createClient();
  assertCalError(await authorize(h, client.clientId), 401, "UnauthorizedException");
  const forged = await authorize(h, client.clientId, {
    cookie: "keyward_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  });
  assertCalError(forged, 401, "UnauthorizedException");
});

test("a cross-origin Origin is refused; keyward's own origin is accepted", async () => {
  const client = await h.createClient();
  const { cookie } = await signedInUser();
  for (const origin of ["https://evil.example", "null", `${ISSUER_ORIGIN}.evil.example`, "https://keyward.test"]) {
    const res = await authorize(h, client.clientId, { cookie, headers: { origin } });
    assertCalError(res, 403, "ForbiddenException");
  }
  codeFrom(await authorize(h, client.clientId, { cookie, headers: { origin: ISSUER_ORIGIN } }));
});

test("a body that is not JSON is refused, however it is sent", async () => {
  const client = await h.createClient();
  const { user, cookie } = await signedInUser();
  const url = `/v2/oauth/${client.clientId}/authorize`;
  const simpleRequests = [
    { "content-type": "text/plain", payload: JSON.stringify({ redirectUri: REDIRECT_URI }) },
    { "content-type": "application/x-www-form-urlencoded", payload: `redirectUri=${encodeURIComponent(REDIRECT_URI)}` },
    {
      "content-type": "multipart/form-data; boundary=x",
      payload: `--x\r\nContent-Disposition: form-data; name="redirectUri"\r\n\r\n${REDIRECT_URI}\r\n--x--\r\n`,
    },
  ];
  for (const { payload, ...headers } of simpleRequests) {
    const res = await h.app.inject({ method: "POST", url, headers: { ...headers, cookie }, payload });
    assertCalError(res, 415, "UnsupportedMediaTypeException", "Content-Type must be application/json");
  }
  const empty = await h.app.inject({ method: "POST", url, headers: { cookie } });
  const error = assertCalError(empty, 400, "BadRequestException");
  assert.deepEqual(error.details.errors, [
    { property: "redirectUri", constraints: { isString: "redirectUri must be a string" } },
  ]);
  assert.equal(
    await h.runtime.core.store.hasOutstandingCodeWithoutPkce(client.clientId, user.userId, Date.now()),
    false,
  );
});

test("body validation failures are 400 with details.errors", async () => {
  const client = await h.createClient();
  const { cookie } = await signedInUser();
  const url = `/v2/oauth/${client.clientId}/authorize`;
  for (const [payload, constraint] of [
    ["{}", "isString"],
    ['{"redirectUri":42}', "isString"],
    ['["redirectUri"]', "isString"],
  ] as const) {
    const res = await h.app.inject({ method: "POST", url, headers: { ...JSON_TYPE, cookie }, payload });
    const error = assertCalError(res, 400, "BadRequestException");
    const errors = error.details.errors as { property: string; constraints: Record<string, string> }[];
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.property, "redirectUri");
    assert.ok(errors[0]?.constraints[constraint], `${payload} fails ${constraint}`);
  }
});

test("malformed JSON, and an empty redirectUri (a string, as in Cal.com), are 400s that issue no code", async () => {
  const client = await h.createClient();
  const { user, cookie } = await signedInUser();
  for (const [payload, message] of [
    ['{"redirectUri": ', "Request body is not valid JSON"],
    ['{"redirectUri":""}', "Invalid 'redirect_uri' value."],
  ] as const) {
    const res = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${client.clientId}/authorize`,
      headers: { ...JSON_TYPE, cookie },
      payload,
    });
    assertCalError(res, 400, "BadRequestException", message);
  }
  assert.equal(
    await h.runtime.core.store.hasOutstandingCodeWithoutPkce(client.clientId, user.userId, Date.now()),
    false,
  );
});
