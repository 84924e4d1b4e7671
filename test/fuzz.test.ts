import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import { sessionCookie } from "./support/cal-flow.js";
import { createHarness, FORM, form, type Harness, type TestClient, type TestUser } from "./support/harness.js";

/** Cases per run, across every endpoint. */
const RUNS = Number(process.env.KEYWARD_FUZZ_RUNS ?? 10_000);

let h: Harness;
let client: TestClient;
let user: TestUser;
let cookie: string;
let validAccessToken: string;
let validRefreshToken: string;

const ADMIN_TOKEN = "fuzz-admin-token-fuzz-admin-token-0123456789";
/** Integrations and users the admin cases may change or delete; the others' stay intact. */
let spareClientId: string;
let spareUserId: string;

before(async () => {
  h = await createHarness({
    KEYWARD_RATE_PER_ADDRESS: "0",
    KEYWARD_RATE_PER_CLIENT: "0",
    KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  spareClientId = (await h.createClient()).clientId;
  spareUserId = (await h.createUser()).userId;
  client = await h.createClient({ redirectUris: ["https://client.example/callback", "https://*.client.example/*"] });
  user = await h.createUser();
  cookie = await sessionCookie(h, user);
  const { code, verifier } = await h.issueCode(client, user);
  const res = await h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/token",
    headers: { ...FORM, authorization: client.basic },
    payload: form({
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: "https://client.example/callback",
    }),
  });
  validAccessToken = res.json().access_token;
  validRefreshToken = res.json().refresh_token;
});
after(() => h.close());

const PARAM_NAMES = [
  "grant_type",
  "code",
  "code_verifier",
  "redirect_uri",
  "refresh_token",
  "scope",
  "client_id",
  "client_secret",
  "token",
  "response_type",
  "state",
  "code_challenge",
  "code_challenge_method",
  "csrf_token",
  "action",
  "decision",
  "email",
  "password",
];

/** Values that probe parsers: wrong encodings, huge strings, look-alike tokens, control characters. */
const nastyValue = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.constantFrom(
    "%",
    "%zz",
    "%00",
    "%C3%28",
    "\u0000",
    "\r\n",
    "authorization_code",
    "refresh_token",
    "S256",
    "plain",
    "https://client.example/callback",
    "https://evil.example/callback",
    "__proto__",
    "constructor",
    "[]",
    "{}",
    "null",
    "-1",
    "1e309",
  ),
  fc.nat(70_000).map((n) => "a".repeat(n)),
  fc.constant(null).map(() => validAccessToken),
  fc.constant(null).map(() => validRefreshToken),
);

const formBody = fc.oneof(
  fc
    .array(fc.tuple(fc.constantFrom(...PARAM_NAMES), nastyValue), { maxLength: 12 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")),
  fc.string({ maxLength: 300 }),
  fc
    .array(fc.constantFrom(...PARAM_NAMES), { maxLength: 5 })
    .map((names) => names.map((n) => `${n}=1&${n}=2`).join("&")),
);

const contentType = fc.constantFrom(
  "application/x-www-form-urlencoded",
  "application/x-www-form-urlencoded; charset=utf-8",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  undefined,
);

const headerValue = fc.oneof(
  fc.string({ unit: fc.constantFrom(..."abcXYZ019 :+/=._-~!*'()".split("")), maxLength: 200 }),
  fc.constant(null).map(() => client.basic),
  fc.constant(null).map(() => `Bearer ${validAccessToken}`),
  fc.constantFrom("Basic", "Basic !!!", "Basic Og==", "Bearer", "Bearer ", "bearer x y"),
);

const jsonBody = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc
    .record({ redirectUri: nastyValue, clientSecret: nastyValue, refreshToken: nastyValue }, { requiredKeys: [] })
    .map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 200 }),
);

const calPath = fc
  .oneof(
    fc.constant(null).map(() => client.clientId),
    fc.string({ maxLength: 40 }),
  )
  .map(encodeURIComponent);

interface Case {
  dialect: "canva" | "cal" | "page" | "admin";
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

const canvaCase = fc
  .record({
    endpoint: fc.constantFrom("token", "introspect", "revoke"),
    base: fc.constantFrom("/rest", "/auth"),
    body: formBody,
    type: contentType,
    authorization: fc.option(headerValue, { nil: undefined }),
  })
  .map(
    ({ endpoint, base, body, type, authorization }): Case => ({
      dialect: "canva",
      method: "POST",
      url: `${base}/v1/oauth/${endpoint}`,
      headers: { ...(type ? { "content-type": type } : {}), ...(authorization ? { authorization } : {}) },
      payload: body,
    }),
  );

const resourceCase = fc
  .record({
    path: fc.constantFrom("/rest/v1/users/me", "/rest/v1/users/me/profile"),
    authorization: fc.option(headerValue, { nil: undefined }),
  })
  .map(
    ({ path, authorization }): Case => ({
      dialect: "canva",
      method: "GET",
      url: path,
      headers: authorization ? { authorization } : {},
    }),
  );

const calCase = fc
  .record({
    endpoint: fc.constantFrom("authorize", "exchange", "refresh"),
    prefix: fc.constantFrom("/v2", "/api/v2"),
    clientId: calPath,
    body: jsonBody,
    type: contentType,
    authorization: fc.option(headerValue, { nil: undefined }),
    secret: fc.option(
      fc.oneof(
        headerValue,
        fc.constant(null).map(() => client.clientSecret),
      ),
      { nil: undefined },
    ),
    signedIn: fc.boolean(),
    origin: fc.option(fc.constantFrom("http://keyward.test", "https://evil.example", "null"), { nil: undefined }),
  })
  .map(
    (c): Case => ({
      dialect: "cal",
      method: "POST",
      url: `${c.prefix}/oauth/${c.clientId}/${c.endpoint}`,
      headers: {
        ...(c.type ? { "content-type": c.type } : {}),
        ...(c.authorization ? { authorization: c.authorization } : {}),
        ...(c.secret ? { "x-cal-secret-key": c.secret } : {}),
        ...(c.signedIn ? { cookie } : {}),
        ...(c.origin ? { origin: c.origin } : {}),
      },
      payload: c.body,
    }),
  );

const pageCase = fc
  .record({
    method: fc.constantFrom("GET" as const, "POST" as const),
    path: fc.constantFrom("/api/oauth/authorize", "/login", "/logout", "/"),
    query: formBody,
    body: formBody,
    signedIn: fc.boolean(),
  })
  .map(
    (c): Case => ({
      dialect: "page",
      method: c.path === "/logout" ? "POST" : c.method,
      url: `${c.path}?${c.query.replaceAll("#", "%23")}`,
      headers: { ...FORM, ...(c.signedIn ? { cookie } : {}) },
      payload: c.method === "POST" || c.path === "/logout" ? c.body : undefined,
    }),
  );

const adminBody = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        client_name: fc.oneof(nastyValue, fc.integer()),
        redirect_uris: fc.oneof(fc.array(nastyValue, { maxLength: 12 }), nastyValue),
        scope: nastyValue,
        email: fc.oneof(nastyValue, fc.constant("fuzz@example.com")),
        password: nastyValue,
        display_name: nastyValue,
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 200 }),
);

const adminCase = fc
  .record({
    method: fc.constantFrom("GET" as const, "POST" as const, "PATCH" as const, "PUT" as const, "DELETE" as const),
    path: fc.oneof(
      fc.constantFrom("/clients", "/users", "/users?email=fuzz@example.com", "/users?email=a&email=b", "/nothing"),
      fc
        .tuple(
          fc.constantFrom("/clients/", "/users/"),
          fc.oneof(
            fc.constant(null).map(() => spareClientId),
            fc.constant(null).map(() => spareUserId),
            fc.string({ maxLength: 40 }).map(encodeURIComponent),
          ),
          fc.constantFrom("", "/secret", "/password", "/connections", "/connections/x"),
        )
        .map((parts) => parts.join("")),
    ),
    body: fc.option(adminBody, { nil: undefined }),
    type: contentType,
    authorization: fc.oneof(fc.constant(`Bearer ${ADMIN_TOKEN}`), headerValue),
  })
  .map(
    (c): Case => ({
      dialect: "admin",
      method: c.method,
      url: `/admin/v1${c.path}`,
      headers: { ...(c.type ? { "content-type": c.type } : {}), authorization: c.authorization },
      payload: c.body,
    }),
  );

function assertShape(c: Case, res: LightMyRequestResponse): void {
  assert.ok(res.statusCode < 500, `${c.method} ${c.url} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  if (res.statusCode < 400) return;
  if (c.dialect === "page") {
    assert.match(String(res.headers["content-type"]), /text\/html/);
    assert.equal(res.headers["x-frame-options"], "DENY");
    return;
  }
  const body = res.json();
  if (c.dialect === "admin") {
    assert.equal(typeof body.error, "string", res.body);
    assert.equal(typeof body.error_description, "string", res.body);
    return;
  }
  if (c.dialect === "canva") {
    assert.equal(typeof body.code, "string", res.body);
    assert.equal(typeof body.message, "string", res.body);
    assert.equal(typeof body.error, "string", res.body);
  } else {
    assert.equal(body.status, "error", res.body);
    assert.match(body.error.code, /Exception$/, res.body);
    assert.equal(typeof body.error.message, "string", res.body);
    assert.equal(typeof body.timestamp, "string", res.body);
  }
}

test(`${RUNS} malformed, oversized, duplicated, mis-encoded and mistyped requests: no 5xx, every error in its dialect's (or the admin API's) shape`, async () => {
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(canvaCase, canvaCase, resourceCase, calCase, calCase, pageCase, adminCase), async (c) => {
      cases++;
      const res = await h.app.inject({ method: c.method, url: c.url, headers: c.headers, payload: c.payload });
      assertShape(c, res);
    }),
    { numRuns: RUNS },
  );
  assert.equal(cases, RUNS);

  // Still serving, and still correct, afterwards.
  assert.equal((await h.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
  const introspect = await h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/introspect",
    headers: { ...FORM, authorization: client.basic },
    payload: form({ token: validAccessToken }),
  });
  assert.equal(introspect.statusCode, 200);
});
