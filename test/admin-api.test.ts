import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { ConfigError, loadConfig } from "../src/config.js";
import { signInThroughLoginPage } from "./support/cal-flow.js";
import { createHarness, type Harness, REDIRECT_URI, SCOPES, type TestClient } from "./support/harness.js";
import { createTestSchema, PG_SKIP } from "./support/postgres.js";

const ADMIN_TOKEN = "admin-token-admin-token-0123456789-abcdef";
const JSON_TYPE = { "content-type": "application/json" };

let h: Harness;
const lines: Record<string, unknown>[] = [];

before(async () => {
  const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
  h = await createHarness({ KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN }, { level: "info", stream });
});
after(() => h.close());

function admin(
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` },
  harness: Harness = h,
): Promise<LightMyRequestResponse> {
  return harness.app.inject({
    method,
    url: `/admin/v1${path}`,
    headers: body === undefined ? headers : { ...JSON_TYPE, ...headers },
    payload: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

function assertError(res: LightMyRequestResponse, status: number, error: string, description?: RegExp) {
  assert.equal(res.statusCode, status, res.body);
  assert.equal(res.json().error, error);
  if (description) assert.match(res.json().error_description, description);
  assert.equal(res.headers["cache-control"], "no-store");
}

const asTestClient = (id: string, secret: string): TestClient => ({
  clientId: id,
  clientSecret: secret,
  basic: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`,
});

async function register(name = "Portal integration") {
  const res = await admin("POST", "/clients", { client_name: name, redirect_uris: [REDIRECT_URI], scope: SCOPES });
  assert.equal(res.statusCode, 201, res.body);
  return res;
}

/**
 * Pages through an admin listing two at a time by following next_after, and checks that the pages
 * hold every one of `created` once, in the order of a single listing, without secrets; and that
 * paging it wrong is refused.
 */
async function assertPagedListing(path: "/users" | "/clients", created: string[]) {
  const field = path === "/users" ? "users" : "clients";
  const idOf = (record: Record<string, string>) => String(path === "/users" ? record.user_id : record.client_id);
  const seen: string[] = [];
  let after: string | null = null;
  do {
    const res = await admin("GET", `${path}?limit=2${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json();
    assert.ok(page[field].length <= 2);
    for (const record of page[field]) {
      assert.equal(record.password_hash, undefined);
      assert.equal(record.client_secret, undefined);
      seen.push(idOf(record));
    }
    after = page.next_after;
  } while (after !== null);
  for (const id of created) assert.equal(seen.filter((s) => s === id).length, 1, `${id}: listed once`);
  const all = (await admin("GET", `${path}?limit=1000`)).json();
  assert.equal(all.next_after, null);
  assert.deepEqual(all[field].map(idOf), seen, "pages in the order of one listing");
  const defaults = (await admin("GET", path)).json();
  assert.ok(defaults[field].length >= created.length && defaults[field].length <= 100);
  for (const query of ["limit=0", "limit=1001", "limit=ten", "limit=1&limit=2", "after=", "colour=blue"]) {
    assertError(await admin("GET", `${path}?${query}`), 400, "invalid_request");
  }
}

/**
 * An id holding a NUL, which no row can hold (PostgreSQL refuses one in text), names no user and no
 * client: a 404 on every engine, not the database's refusal.
 */
async function assertNulIdsNotFound(harness: Harness) {
  const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const password = { password: "a long enough passphrase" };
  for (const [method, path, body, found] of [
    ["GET", "/users/%00", undefined, "user"],
    ["GET", "/users/x%00y", undefined, "user"],
    ["DELETE", "/users/%00/sessions", undefined, "user"],
    ["PUT", "/users/%00/password", password, "user"],
    ["GET", "/users/%00/connections", undefined, "user"],
    ["GET", "/clients/%00", undefined, "client"],
    ["DELETE", "/users/%00", undefined, "user"],
    ["DELETE", "/clients/%00", undefined, "client"],
    ["PATCH", "/clients/%00", { client_name: "Renamed" }, "client"],
    ["POST", "/clients/%00/secret", {}, "client"],
  ] as const) {
    const res = await admin(method, path, body, bearer, harness);
    assertError(res, 404, "not_found", new RegExp(`^No ${found} with id`));
  }
  // A user who exists, so that the client's id is the one looked up.
  const { userId } = await harness.createUser();
  for (const path of ["/users/%00/connections/OC-x", `/users/${userId}/connections/%00`]) {
    assertError(await admin("DELETE", path, undefined, bearer, harness), 404, "not_found", /has no connection/);
  }
}

describe("admin API", () => {
  test("answers only the admin token, as a bearer token, and says so", async () => {
    const none = await admin("GET", "/clients", undefined, {});
    assertError(none, 401, "invalid_token");
    assert.equal(none.headers["www-authenticate"], 'Bearer realm="keyward admin"');
    const wrong = await admin("GET", "/clients", undefined, { authorization: `Bearer ${ADMIN_TOKEN}x` });
    assertError(wrong, 401, "invalid_token");
    assert.match(String(wrong.headers["www-authenticate"]), /error="invalid_token"/);
    const basic = await admin("GET", "/clients", undefined, { authorization: `Basic ${ADMIN_TOKEN}` });
    assertError(basic, 401, "invalid_token");
    assertError(await admin("GET", "/nothing-here", undefined, {}), 401, "invalid_token");
    assertError(await admin("GET", "/clients/%zz"), 400, "invalid_request", /not validly encoded/);
    assertError(await admin("GET", "/nothing-here"), 404, "not_found");
  });

  test("a registered integration gets its secret once and completes an authorization", async () => {
    const res = await register();
    const created = res.json();
    assert.match(created.client_id, /^OC-/);
    assert.match(created.client_secret, /^cnvca/);
    assert.equal(created.client_secret_expires_at, 0);
    assert.equal(res.headers.location, `/admin/v1/clients/${created.client_id}`);
    assert.deepEqual(created.redirect_uris, [REDIRECT_URI]);
    assert.equal(created.scope, SCOPES);

    const shown = (await admin("GET", `/clients/${created.client_id}`)).json();
    assert.equal(shown.client_name, "Portal integration");
    assert.equal(shown.client_secret, undefined, "the secret is never shown again");
    const listed = (await admin("GET", "/clients")).json().clients;
    assert.ok(listed.some((c: { client_id: string }) => c.client_id === created.client_id));

    const tokens = await h.exchangeCode(asTestClient(created.client_id, created.client_secret), await h.createUser());
    assert.equal(tokens.statusCode, 200, tokens.body);

    const logged = lines.find((line) => line.client_id === created.client_id);
    assert.equal(logged?.msg, "client registered through the admin API");
    assert.ok(!JSON.stringify(lines).includes(created.client_secret), "the secret is not logged");
  });

  test("a member named __proto__ or constructor is one more unknown member, ignored", async () => {
    const body = `{"client_name":"Odd members","redirect_uris":["${REDIRECT_URI}"],"scope":"${SCOPES}","__proto__":{"scope":"x"},"constructor":{"prototype":{}}}`;
    const res = await admin("POST", "/clients", body);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().scope, SCOPES);
    assertError(await admin("POST", "/clients", "{"), 400, "invalid_request", /^The body is not valid JSON$/);
  });

  test("lists every integration a page at a time, never a secret", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await register(`Paged integration ${i}`)).json().client_id);
    await assertPagedListing("/clients", created);
  });

  test("refuses bad registrations field by field, in RFC 7591's terms", async () => {
    const base = { client_name: "X", redirect_uris: [REDIRECT_URI], scope: "profile:read" };
    const cases: [unknown, number, string, RegExp][] = [
      [{ ...base, client_name: " " }, 400, "invalid_client_metadata", /client_name is required/],
      [{ ...base, client_name: 7 }, 400, "invalid_client_metadata", /client_name must be a string/],
      [
        { ...base, client_name: "Acme\ud800" },
        400,
        "invalid_client_metadata",
        /client_name holds an unpaired surrogate/,
      ],
      [{ ...base, client_name: "Acme\u0000" }, 400, "invalid_client_metadata", /client_name holds a NUL/],
      [{ ...base, redirect_uris: [] }, 400, "invalid_redirect_uri", /at least one/],
      [{ ...base, redirect_uris: "https://a.example/cb" }, 400, "invalid_redirect_uri", /array of strings/],
      [{ ...base, redirect_uris: ["http://evil.example/cb"] }, 400, "invalid_redirect_uri", /is not allowed/],
      [
        { ...base, redirect_uris: Array.from({ length: 11 }, (_, i) => `https://a.example/${i}`) },
        400,
        "invalid_redirect_uri",
        /at most 10/,
      ],
      [{ ...base, scope: "" }, 400, "invalid_client_metadata", /scope is required/],
      [{ ...base, scope: "root" }, 400, "invalid_client_metadata", /unknown scope: root/],
      [[base], 400, "invalid_request", /JSON object/],
      ["{not json", 400, "invalid_request", /not valid JSON/],
    ];
    for (const [body, status, error, description] of cases) {
      assertError(await admin("POST", "/clients", body), status, error, description);
    }
    const form = await h.app.inject({
      method: "POST",
      url: "/admin/v1/clients",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/x-www-form-urlencoded" },
      payload: "client_name=X",
    });
    assertError(form, 415, "invalid_request");
    const before = (await admin("GET", "/clients")).json().clients.length;
    await admin("POST", "/clients", { ...base, scope: "root" });
    assert.equal((await admin("GET", "/clients")).json().clients.length, before, "nothing was registered");
  });

  test("changes, re-keys and deletes an integration, with the effects the CLI has", async () => {
    const created = (await register("Before")).json();
    const client = asTestClient(created.client_id, created.client_secret);
    const tokens = (await h.exchangeCode(client, await h.createUser())).json();

    const changed = await admin("PATCH", `/clients/${client.clientId}`, {
      client_name: "After",
      redirect_uris: [REDIRECT_URI, "https://client.example/other"],
    });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(changed.json().client_name, "After");
    assert.deepEqual(changed.json().redirect_uris, [REDIRECT_URI, "https://client.example/other"]);
    assert.equal(changed.json().scope, SCOPES, "what was not given stays");
    assertError(
      await admin("PATCH", `/clients/${client.clientId}`, {}),
      400,
      "invalid_client_metadata",
      /Nothing to change/,
    );
    assertError(await admin("PATCH", "/clients/OC-missing", { client_name: "x" }), 404, "not_found");

    const rotated = await admin("POST", `/clients/${client.clientId}/secret`);
    assert.equal(rotated.statusCode, 200, rotated.body);
    const renewed = asTestClient(client.clientId, rotated.json().client_secret);
    assert.equal((await h.refresh(client, tokens.refresh_token)).statusCode, 401, "the old secret stops working");
    const refreshed = await h.refresh(renewed, tokens.refresh_token);
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    assertError(await admin("POST", "/clients/OC-missing/secret"), 404, "not_found");

    const deleted = await admin("DELETE", `/clients/${client.clientId}`);
    assert.equal(deleted.statusCode, 204);
    assert.equal((await h.profile(refreshed.json().access_token)).statusCode, 401, "its tokens die with it");
    assertError(await admin("GET", `/clients/${client.clientId}`), 404, "not_found");
    assertError(await admin("DELETE", `/clients/${client.clientId}`), 404, "not_found");
  });
});

describe("admin API: secret rotation with an overlap", () => {
  test("keeps the replaced secret working for the time asked, then refuses it", async () => {
    const created = (await register("Rotating")).json();
    const old = asTestClient(created.client_id, created.client_secret);
    let refreshToken = (await h.exchangeCode(old, await h.createUser())).json().refresh_token as string;
    const refreshWith = async (client: TestClient) => {
      const res = await h.refresh(client, refreshToken);
      if (res.statusCode === 200) refreshToken = res.json().refresh_token;
      return res.statusCode;
    };

    const rotated = await admin("POST", `/clients/${old.clientId}/secret`, { previous_secret_valid_for: 3600 });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const expiresAt = rotated.json().previous_secret_expires_at;
    const now = Math.floor(h.runtime.core.now() / 1000);
    assert.ok(expiresAt >= now + 3599 && expiresAt <= now + 3600, String(expiresAt));
    assert.equal((await admin("GET", `/clients/${old.clientId}`)).json().previous_secret_expires_at, expiresAt);
    const renewed = asTestClient(old.clientId, rotated.json().client_secret);
    assert.equal(await refreshWith(old), 200, "the old secret still works");
    assert.equal(await refreshWith(renewed), 200, "and so does the new one");

    h.advanceClock(3_601_000);
    try {
      assert.equal(await refreshWith(old), 401, "the old secret stops when its time is up");
      assert.equal(await refreshWith(renewed), 200);
      assert.equal((await admin("GET", `/clients/${old.clientId}`)).json().previous_secret_expires_at, undefined);
    } finally {
      h.advanceClock(-3_601_000);
    }

    for (const wrong of [0, 2_592_001, 1.5, "60", null]) {
      assertError(
        await admin("POST", `/clients/${old.clientId}/secret`, { previous_secret_valid_for: wrong }),
        400,
        "invalid_request",
        /previous_secret_valid_for must be a whole number of seconds from 1 to 2592000/,
      );
    }
    assert.equal(await refreshWith(renewed), 200, "a refused rotation changes nothing");
  });
});

describe("admin API: users", () => {
  const password = "a long enough passphrase";

  test("lists every user a page at a time", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await admin("POST", "/users", { email: `paged-${i}@example.com`, password });
      created.push(res.json().user_id);
    }
    await assertPagedListing("/users", created);
    assertError(await admin("GET", "/users?email=paged-0@example.com&limit=1"), 400, "invalid_request");
  });

  test("creates a user who can then sign in, found by id or by email, once per email", async () => {
    const res = await admin("POST", "/users", { email: "Portal.User@Example.com", password, display_name: "Pat" });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json();
    assert.equal(created.email, "portal.user@example.com");
    assert.equal(created.display_name, "Pat");
    assert.equal(res.headers.location, `/admin/v1/users/${created.user_id}`);
    assert.deepEqual((await admin("GET", `/users/${created.user_id}`)).json(), created);
    assert.deepEqual((await admin("GET", "/users?email=PORTAL.USER@example.com")).json(), { users: [created] });
    assert.deepEqual((await admin("GET", "/users?email=nobody@example.com")).json(), { users: [] });
    assertError(await admin("GET", "/users?email=a@example.com&email=b@example.com"), 400, "invalid_request");
    assertError(await admin("GET", "/users/nobody"), 404, "not_found");
    await assertNulIdsNotFound(h);

    const again = await admin("POST", "/users", { email: "portal.user@example.com", password });
    assertError(again, 409, "user_exists");
    await signInThroughLoginPage(h, { userId: created.user_id, email: created.email, password });
    assert.ok(!JSON.stringify(lines).includes(password), "no password is logged");
  });

  test("refuses a missing or bad email and a short password", async () => {
    assertError(await admin("POST", "/users", { password }), 400, "invalid_request", /email is required/);
    assertError(await admin("POST", "/users", { email: "nope", password }), 400, "invalid_request", /not an email/);
    assertError(
      await admin("POST", "/users", { email: "a@example.com" }),
      400,
      "invalid_request",
      /password is required/,
    );
    const short = await admin("POST", "/users", { email: "a@example.com", password: "short" });
    assertError(short, 400, "invalid_request", /at least 8/);
    assertError(
      await admin("POST", "/users", { email: 5, password }),
      400,
      "invalid_request",
      /email must be a string/,
    );
    for (const field of ["email", "password", "display_name"]) {
      const body = { email: "half@example.com", password, [field]: `${field === "email" ? "half@" : ""}x\udc00y` };
      assertError(
        await admin("POST", "/users", body),
        400,
        "invalid_request",
        new RegExp(`${field} holds an unpaired`),
      );
      // SQLite would store a NUL that no lookup then finds; PostgreSQL cannot store one.
      const withNul = { email: "nul@example.com", password, [field]: `${field === "email" ? "nul@" : ""}x\u0000y` };
      assertError(await admin("POST", "/users", withNul), 400, "invalid_request", new RegExp(`${field} holds a NUL`));
    }
    assert.deepEqual((await admin("GET", "/users?email=a@example.com")).json(), { users: [] });
  });

  test("a new password ends the user's sessions; deleting the user ends their tokens", async () => {
    const user = await h.createUser();
    const client = await h.createClient();
    const tokens = (await h.exchangeCode(client, user)).json();
    const cookie = await signInThroughLoginPage(h, user);
    const signedIn = () => h.app.inject({ url: "/", headers: { cookie } });
    assert.match((await signedIn()).body, /Sign out/);

    const changed = await admin("PUT", `/users/${user.userId}/password`, { password: "another long passphrase" });
    assert.equal(changed.statusCode, 204, changed.body);
    assert.doesNotMatch((await signedIn()).body, /Sign out/, "the session ended");
    await signInThroughLoginPage(h, { ...user, password: "another long passphrase" });
    assertError(await admin("PUT", `/users/${user.userId}/password`, { password: "short" }), 400, "invalid_request");
    assertError(await admin("PUT", "/users/nobody/password", { password: "long enough again" }), 404, "not_found");
    assert.equal((await h.profile(tokens.access_token)).statusCode, 200, "integrations keep what was granted");

    const again = await signInThroughLoginPage(h, { ...user, password: "another long passphrase" });
    const signedInAgain = () => h.app.inject({ url: "/", headers: { cookie: again } });
    assert.match((await signedInAgain()).body, /Sign out/);
    assert.equal((await admin("DELETE", `/users/${user.userId}/sessions`)).statusCode, 204);
    assert.doesNotMatch((await signedInAgain()).body, /Sign out/, "signed out everywhere");
    assert.equal((await h.profile(tokens.access_token)).statusCode, 200, "the integrations' tokens stay");
    assertError(await admin("DELETE", "/users/nobody/sessions"), 404, "not_found");

    assert.equal((await admin("DELETE", `/users/${user.userId}`)).statusCode, 204);
    assert.equal((await h.profile(tokens.access_token)).statusCode, 401);
    assert.equal((await h.refresh(client, tokens.refresh_token)).json().error, "invalid_grant");
    assertError(await admin("DELETE", `/users/${user.userId}`), 404, "not_found");
  });
});

describe("admin API: a user's connections", () => {
  test("lists the integrations a user let in, and withdraws one with its tokens, the other untouched", async () => {
    const user = await h.createUser();
    const [first, second] = [await h.createClient({ name: "First" }), await h.createClient({ name: "Second" })];
    const firstTokens = (await h.exchangeCode(first, user, { scope: "profile:read" })).json();
    const secondTokens = (await h.exchangeCode(second, user)).json();

    const listed = await admin("GET", `/users/${user.userId}/connections`);
    assert.equal(listed.statusCode, 200, listed.body);
    const byId = new Map(listed.json().connections.map((c: { client_id: string }) => [c.client_id, c]));
    const { connected_at, ...rest } = byId.get(first.clientId) as { connected_at: number };
    assert.deepEqual(rest, { client_id: first.clientId, client_name: "First", scope: "profile:read" });
    assert.ok(Math.abs(connected_at - Date.now() / 1000) < 60, "connected_at is in seconds, and recent");
    assert.equal((byId.get(second.clientId) as { client_name: string }).client_name, "Second");

    assert.equal((await admin("DELETE", `/users/${user.userId}/connections/${first.clientId}`)).statusCode, 204);
    assert.equal((await h.refresh(first, firstTokens.refresh_token)).json().error, "invalid_grant");
    assert.equal((await h.refresh(second, secondTokens.refresh_token)).statusCode, 200, "the other integration stays");
    const after = (await admin("GET", `/users/${user.userId}/connections`)).json().connections;
    assert.deepEqual(
      after.map((c: { client_id: string }) => c.client_id),
      [second.clientId],
    );
    const again = await admin("DELETE", `/users/${user.userId}/connections/${first.clientId}`);
    assertError(again, 404, "not_found", /no connection/);
    assertError(await admin("GET", "/users/nobody/connections"), 404, "not_found");
  });
});

test("an address that keeps failing to bear the token is refused for a while, and logged once", async () => {
  const logged: Record<string, unknown>[] = [];
  const stream = { write: (line: string) => logged.push(JSON.parse(line)) };
  const limited = await createHarness(
    { KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN, KEYWARD_ADMIN_FAILURES_PER_ADDRESS: "3" },
    { level: "info", stream },
  );
  const from = (remoteAddress: string, authorization?: string) =>
    limited.app.inject({
      url: "/admin/v1/clients",
      remoteAddress,
      headers: authorization === undefined ? {} : { authorization },
    });
  try {
    // A portal's own calls, however many at once, use up none of its address's tries.
    const calls = await Promise.all(Array.from({ length: 30 }, () => from("10.0.0.1", `Bearer ${ADMIN_TOKEN}`)));
    assert.deepEqual([...new Set(calls.map((res) => res.statusCode))], [200]);
    assertError(await from("10.0.0.1", "Bearer wrong-token"), 401, "invalid_token");

    for (let i = 0; i < 3; i++) assertError(await from("10.0.0.9", "Bearer guess"), 401, "invalid_token");
    for (const authorization of [`Bearer ${ADMIN_TOKEN}`, "Bearer guess", undefined]) {
      const refused = await from("10.0.0.9", authorization);
      assertError(refused, 429, "too_many_requests", /failed authentications/);
      const wait = Number(refused.headers["retry-after"]);
      // The rest of the 900 s window, then the third of the next in which one of the three failures slides out.
      assert.ok(wait >= 1 && wait <= 1200, `Retry-After ${wait}`);
    }
    assert.equal((await from("10.0.0.1", `Bearer ${ADMIN_TOKEN}`)).statusCode, 200, "other addresses go on");

    const warnings = logged.filter((line) => line.event === "admin_auth_throttled");
    assert.equal(warnings.length, 1, "only the first refusal is logged");
    assert.equal(warnings[0]?.address, "10.0.0.9");
    const metrics = await limited.app.inject({
      url: "/admin/v1/metrics",
      remoteAddress: "10.0.0.1",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.match(metrics.body, /^keyward_security_events_total\{event="admin_auth_throttled"\} 1$/m);
  } finally {
    await limited.close();
  }
});

test("without KEYWARD_ADMIN_TOKEN there is no admin API at all", async () => {
  const plain = await createHarness();
  try {
    const res = await plain.app.inject({
      url: "/admin/v1/clients",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.statusCode, 404);
  } finally {
    await plain.close();
  }
  assert.throws(() => loadConfig({ DATABASE_URL: ":memory:", KEYWARD_ADMIN_TOKEN: "short" }), ConfigError);
});

test("an id holding a NUL names no user and no client on PostgreSQL either", { skip: PG_SKIP }, async () => {
  const schema = await createTestSchema();
  const onPostgres = await createHarness({ DATABASE_URL: schema.url, KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    await assertNulIdsNotFound(onPostgres);
  } finally {
    await onPostgres.close();
    await schema.drop();
  }
});
