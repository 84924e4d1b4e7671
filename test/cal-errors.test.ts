import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertCalError, authorize, exchangeCode, JSON_TYPE, obtainKeys, sessionCookie } from "./support/cal-flow.js";
import { createHarness, type Harness } from "./support/harness.js";

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

/** Makes one store method throw until the returned function is called. */
function breakStore(method: "getClient" | "findSession", error: Error): () => void {
  const store = h.runtime.core.store as unknown as Record<string, unknown>;
  const original = store[method];
  store[method] = async () => {
    throw error;
  };
  return () => {
    store[method] = original;
  };
}

test("unknown routes and methods in the Cal scopes are 404 NotFoundException", async () => {
  for (const [method, url] of [
    ["POST", "/v2/oauth/abc/nothing"],
    ["GET", "/v2/oauth/abc/authorize"],
    ["GET", "/api/v2/oauth/abc/exchange"],
    ["POST", "/api/v2/whatever?x=1"],
  ] as const) {
    const res = await h.app.inject({ method, url });
    assertCalError(res, 404, "NotFoundException", `Cannot ${method} ${url}`);
    assert.ok(res.headers["x-request-id"]);
  }
});

test("a body over the limit is 413 in the envelope", async () => {
  const client = await h.createClient();
  const res = await h.app.inject({
    method: "POST",
    url: `/v2/oauth/${client.clientId}/exchange`,
    headers: { ...JSON_TYPE, authorization: "Bearer x" },
    payload: JSON.stringify({ clientSecret: "x".repeat(64 * 1024) }),
  });
  assertCalError(res, 413, "PayloadTooLargeException");
});

test("JSON that Fastify refuses to parse is 400 in the envelope", async () => {
  const client = await h.createClient();
  const url = `/v2/oauth/${client.clientId}/exchange`;
  for (const payload of ["", "{", '{"__proto__": {"x": 1}, "clientSecret": "s"}', "not json"]) {
    const res = await h.app.inject({
      method: "POST",
      url,
      headers: { ...JSON_TYPE, authorization: "Bearer x" },
      payload,
    });
    assertCalError(res, 400, "BadRequestException");
  }
});

test("an empty JSON body is told which fields are missing, as {} is", async () => {
  const client = await h.createClient();
  const url = `/v2/oauth/${client.clientId}/refresh`;
  const headers = { ...JSON_TYPE, "x-cal-secret-key": client.clientSecret };
  const empty = await h.app.inject({ method: "POST", url, headers, payload: "" });
  const braces = await h.app.inject({ method: "POST", url, headers, payload: "{}" });
  const emptyError = assertCalError(empty, 400, "BadRequestException");
  assert.deepEqual(emptyError.details, assertCalError(braces, 400, "BadRequestException").details);
  assert.deepEqual(emptyError.details.errors, [
    { property: "refreshToken", constraints: { isString: "refreshToken must be a string" } },
  ]);
});

test("URLs the router refuses are answered in the envelope, with a request id", async () => {
  const res = await h.app.inject({ method: "POST", url: "/v2/oauth/%E0%A4%A/refresh" });
  assertCalError(res, 400, "BadRequestException", "The URL is not validly encoded");
  assert.ok(res.headers["x-request-id"]);
  const canva = await h.app.inject({ method: "POST", url: "/rest/v1/oauth/%E0%A4%A" });
  assert.equal(canva.statusCode, 400);
  assert.equal(canva.json().error, "invalid_request");
  assert.ok(canva.headers["x-request-id"]);
  const page = await h.app.inject({ method: "GET", url: "/login%E0%A4%A" });
  assert.equal(page.statusCode, 400);
  assert.match(String(page.headers["content-type"]), /^text\/html/);
});

test("a client id of any length is an unknown client, in the dialect's words", async () => {
  const longId = "OC-".padEnd(5000, "x");
  const exchange = await h.app.inject({
    method: "POST",
    url: `/v2/oauth/${longId}/exchange`,
    headers: { ...JSON_TYPE, authorization: "Bearer x" },
    payload: { clientSecret: "s" },
  });
  assertCalError(exchange, 400, "BadRequestException", "Invalid OAuth Client.");
  const refresh = await h.app.inject({
    method: "POST",
    url: `/v2/oauth/${longId}/refresh`,
    headers: { ...JSON_TYPE, "x-cal-secret-key": "s" },
    payload: { refreshToken: "r" },
  });
  assertCalError(refresh, 401, "UnauthorizedException");
});

test("at refresh, a body of another media type or an oversized form reads as no body", async () => {
  const client = await h.createClient();
  const url = `/v2/oauth/${client.clientId}/refresh`;
  const headers = { "x-cal-secret-key": client.clientSecret };
  const xml = await h.app.inject({
    method: "POST",
    url,
    headers: { ...headers, "content-type": "application/xml" },
    payload: "<a/>",
  });
  assertCalError(xml, 400, "BadRequestException", "refreshToken must be a string");
  const manyParameters = Array.from({ length: 100 }, (_, i) => `p${i}=1`).join("&");
  const form = await h.app.inject({
    method: "POST",
    url,
    headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
    payload: manyParameters,
  });
  assertCalError(form, 400, "BadRequestException", "refreshToken must be a string");
  const untyped = await h.app.inject({ method: "POST", url, headers, payload: "refreshToken=x" });
  assertCalError(untyped, 400, "BadRequestException", "refreshToken must be a string");
});

test("an unreachable database is 503 with Retry-After, in the envelope", async () => {
  const { client, keys } = await obtainKeys(h);
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  const restore = breakStore("getClient", refused);
  try {
    const res = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${client.clientId}/refresh`,
      headers: { ...JSON_TYPE, "x-cal-secret-key": client.clientSecret },
      payload: JSON.stringify({ refreshToken: keys.refreshToken }),
    });
    const error = assertCalError(res, 503, "ServiceUnavailableException");
    assert.doesNotMatch(error.message, /ECONNREFUSED|5432/);
    assert.equal(res.headers["retry-after"], "5");
  } finally {
    restore();
  }
  const user = await h.createUser();
  const cookie = await sessionCookie(h, user);
  const restoreSessions = breakStore("findSession", Object.assign(new Error("busy"), { code: "SQLITE_BUSY" }));
  try {
    assertCalError(await authorize(h, client.clientId, { cookie }), 503, "ServiceUnavailableException");
  } finally {
    restoreSessions();
  }
});

test("an unexpected failure is a bare 500 in the envelope, without internals", async () => {
  const client = await h.createClient();
  const restore = breakStore("getClient", new Error("secret internal detail"));
  try {
    const res = await exchangeCode(h, client, "whatever");
    const error = assertCalError(res, 500, "InternalServerErrorException", "Internal server error");
    assert.doesNotMatch(res.body, /secret internal detail/);
    assert.equal(error.details.statusCode, 500);
  } finally {
    restore();
  }
});
