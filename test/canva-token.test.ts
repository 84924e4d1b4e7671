import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { ConfigError, loadConfig } from "../src/config.js";
import { randomToken } from "../src/core/crypto.js";
import {
  createHarness,
  FORM,
  form,
  type Harness,
  REDIRECT_URI,
  type TestClient,
  type TestUser,
} from "./support/harness.js";
import { grantRecord, tokenRecord } from "./support/store-records.js";

let h: Harness;
let client: TestClient;
let user: TestUser;

before(async () => {
  h = await createHarness();
  client = await h.createClient();
  user = await h.createUser();
});
after(() => h.close());

async function token(body: Record<string, string>, headers: Record<string, string> = { authorization: client.basic }) {
  return h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/token",
    headers: { ...FORM, ...headers },
    payload: form(body),
  });
}

async function introspect(value: string, as: TestClient = client) {
  const res = await h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/introspect",
    headers: { ...FORM, authorization: as.basic },
    payload: form({ token: value }),
  });
  return res.json();
}

/** A complete authorization_code request for `code`. */
const redemption = (code: string, verifier: string) => ({
  grant_type: "authorization_code",
  code,
  code_verifier: verifier,
  redirect_uri: REDIRECT_URI,
});

async function exchangeFreshCode(options: { scope?: string } = {}) {
  const { code, verifier } = await h.issueCode(client, user, options);
  const res = await token(redemption(code, verifier));
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

function assertCanvaError(
  res: { statusCode: number; json(): unknown; headers: Record<string, unknown> },
  status: number,
  code: string,
  message?: string | RegExp,
) {
  assert.equal(res.statusCode, status);
  const body = res.json() as Record<string, string>;
  assert.equal(body.code, code);
  assert.equal(typeof body.message, "string");
  assert.equal(typeof body.error, "string");
  assert.equal(body.error_description, body.message);
  if (typeof message === "string") assert.equal(body.message, message);
  else if (message) assert.match(body.message ?? "", message);
  assert.equal(res.headers["cache-control"], "no-store");
}

describe("authorization_code grant", () => {
  test("issues a Bearer JWT access token and an opaque refresh token", async () => {
    const body = await exchangeFreshCode();
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.expires_in, 14400);
    assert.equal(body.scope, "design:meta:read profile:read asset:read");
    assert.match(body.refresh_token, /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    assert.ok(body.access_token.length <= 4096);
    const header = decodeProtectedHeader(body.access_token);
    assert.equal(header.alg, "ES256");
    assert.equal(typeof header.kid, "string");
    const jwks = (await h.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json();
    // As an RFC 9068 resource server checks it: type, issuer and audience (the issuer unless configured).
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(jwks), {
      issuer: "http://keyward.test",
      audience: "http://keyward.test",
      typ: "at+jwt",
    });
    for (const claim of ["iss", "aud", "sub", "client_id", "client", "scope", "jti", "iat", "nbf", "exp"]) {
      assert.ok(payload[claim] !== undefined, `claim ${claim}`);
    }
    assert.equal(payload.client_id, client.clientId);
    assert.equal(payload.client, client.clientId);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 14400);
    assert.notEqual(payload.sub, user.userId);
  });

  test("KEYWARD_ACCESS_TOKEN_AUDIENCE names the access tokens' aud; a value with spaces is refused", async () => {
    const other = await createHarness({ KEYWARD_ACCESS_TOKEN_AUDIENCE: "https://api.example.com" });
    try {
      const res = await other.exchangeCode(await other.createClient(), await other.createUser());
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(decodeJwt(res.json().access_token).aud, "https://api.example.com");
    } finally {
      await other.close();
    }
    const base = { DATABASE_URL: ":memory:", KEYWARD_SECRET: "s".repeat(32) };
    assert.throws(() => loadConfig({ ...base, KEYWARD_ACCESS_TOKEN_AUDIENCE: "my api" }), ConfigError);
    assert.throws(() => loadConfig({ ...base, KEYWARD_ACCESS_TOKEN_AUDIENCE: "a".repeat(2049) }), ConfigError);
    assert.equal(
      loadConfig({ ...base, KEYWARD_ISSUER: "https://id.example.com/" }).accessTokenAudience,
      "https://id.example.com",
    );
  });

  test("a token expires at the whole second its exp states, not up to a second after", async () => {
    const body = await exchangeFreshCode();
    const { core } = h.runtime;
    for (const value of [body.access_token, body.refresh_token]) {
      const stored = await core.store.findToken(core.keys.hashToken(value));
      const exp = (await introspect(value)).exp;
      assert.equal(stored?.expiresAt, exp * 1000, "introspection's exp is when it ends");
    }
    const { exp } = decodeJwt(body.access_token);
    const offset = (exp ?? 0) * 1000 - Date.now();
    h.advanceClock(offset);
    try {
      assert.deepEqual(await introspect(body.access_token), { active: false });
      assert.equal(body.expires_in, 14400, "expires_in states the lifetime it was minted with");
    } finally {
      h.advanceClock(-offset);
    }
  });

  test("the subject is stable for one client and different for another", async () => {
    const first = decodeJwt((await exchangeFreshCode()).access_token).sub;
    const second = decodeJwt((await exchangeFreshCode()).access_token).sub;
    assert.equal(first, second);
    const other = await h.createClient();
    const { code, verifier } = await h.issueCode(other, user);
    const res = await token(redemption(code, verifier), { authorization: other.basic });
    assert.notEqual(decodeJwt(res.json().access_token).sub, first);
  });

  test("accepts client credentials in the body", async () => {
    const { code, verifier } = await h.issueCode(client, user);
    const res = await token(
      {
        ...redemption(code, verifier),
        client_id: client.clientId,
        client_secret: client.clientSecret,
      },
      {},
    );
    assert.equal(res.statusCode, 200, res.body);
  });

  test("a code works once; a second use revokes what the first issued", async () => {
    const { code, verifier } = await h.issueCode(client, user);
    const params = redemption(code, verifier);
    const first = await token(params);
    assert.equal(first.statusCode, 200);
    assert.equal((await introspect(first.json().access_token)).active, true);
    assertCanvaError(await token(params), 400, "invalid_grant");
    assert.deepEqual(await introspect(first.json().access_token), { active: false });
    assert.deepEqual(await introspect(first.json().refresh_token), { active: false });
    const refresh = await token({ grant_type: "refresh_token", refresh_token: first.json().refresh_token });
    assertCanvaError(refresh, 400, "invalid_grant", "Invalid refresh token");
  });

  test("a code expires after ten minutes", async () => {
    const { code, verifier } = await h.issueCode(client, user);
    h.advanceClock(10 * 60 * 1000 + 1);
    try {
      assertCanvaError(await token(redemption(code, verifier)), 400, "invalid_grant", /expired/);
    } finally {
      h.advanceClock(-(10 * 60 * 1000 + 1));
    }
  });

  test("a code is bound to its client", async () => {
    const other = await h.createClient();
    const { code, verifier } = await h.issueCode(client, user);
    const params = redemption(code, verifier);
    assertCanvaError(await token(params, { authorization: other.basic }), 400, "invalid_grant");
    assert.equal((await token(params)).statusCode, 200, "the rightful client can still redeem it");
  });

  test("PKCE: a wrong verifier is refused, a missing one is a bad request", async () => {
    const { code, verifier } = await h.issueCode(client, user);
    const wrong = "x".repeat(43);
    assertCanvaError(
      await token({ grant_type: "authorization_code", code, code_verifier: wrong, redirect_uri: REDIRECT_URI }),
      400,
      "invalid_grant",
      /code_verifier/,
    );
    assertCanvaError(
      await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI }),
      400,
      "invalid_request",
      "code_verifier is required",
    );
    // Only a redemption that passes every check spends the code, so the rightful client still can.
    const res = await token(redemption(code, verifier));
    assert.equal(res.statusCode, 200, res.body);
  });

  test("redirect_uri must match the one the authorization request named", async () => {
    const { code, verifier } = await h.issueCode(client, user);
    const res = await token({ ...redemption(code, verifier), redirect_uri: `${REDIRECT_URI}/other` });
    assertCanvaError(res, 400, "invalid_grant", /redirect_uri/);
    const missing = await h.issueCode(client, user);
    assertCanvaError(
      await token({ grant_type: "authorization_code", code: missing.code, code_verifier: missing.verifier }),
      400,
      "invalid_grant",
      /redirect_uri/,
    );
  });

  test("redirect_uri may be omitted when the authorization request omitted it", async () => {
    const { code, verifier } = await h.issueCode(client, user, { explicitRedirect: false });
    const res = await token({ grant_type: "authorization_code", code, code_verifier: verifier });
    assert.equal(res.statusCode, 200, res.body);
  });

  test("an unknown code is invalid_grant", async () => {
    const res = await token({ grant_type: "authorization_code", code: "nope", code_verifier: "a".repeat(43) });
    assertCanvaError(res, 400, "invalid_grant");
  });
});

describe("refresh_token grant", () => {
  test("rotates on every use and keeps the scope", async () => {
    const issued = await exchangeFreshCode();
    const res = await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token });
    assert.equal(res.statusCode, 200, res.body);
    const rotated = res.json();
    assert.notEqual(rotated.refresh_token, issued.refresh_token);
    assert.notEqual(rotated.access_token, issued.access_token);
    assert.equal(rotated.scope, issued.scope);
    assert.equal(decodeJwt(rotated.access_token).sub, decodeJwt(issued.access_token).sub);
    assert.deepEqual(await introspect(issued.refresh_token), { active: false });
    assert.equal((await introspect(rotated.refresh_token)).active, true);
  });

  test("a refresh token stored before tokens carried a time prefix still rotates", async () => {
    const { store, keys } = h.runtime.core;
    const grant = grantRecord({ clientId: client.clientId, userId: user.userId });
    const legacy = randomToken(32);
    await store.transaction(async (tx) => {
      await tx.createGrant(grant);
      await tx.saveTokens([tokenRecord(grant, { hash: keys.hashToken(legacy), expiresAt: Date.now() + 60_000 })]);
    });
    assert.equal(keys.hashToken(legacy).length, 43, "stored under the plain keyed hash");
    const res = await token({ grant_type: "refresh_token", refresh_token: legacy });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.json().refresh_token, /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await introspect(legacy), { active: false });
  });

  test("reuse of a consumed refresh token revokes the whole lineage", async () => {
    const issued = await exchangeFreshCode();
    const rotated = (await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token })).json();
    const replay = await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token });
    assertCanvaError(replay, 400, "invalid_grant", "Invalid refresh token");
    assert.deepEqual(await introspect(rotated.access_token), { active: false });
    assert.deepEqual(await introspect(rotated.refresh_token), { active: false });
    assertCanvaError(
      await token({ grant_type: "refresh_token", refresh_token: rotated.refresh_token }),
      400,
      "invalid_grant",
    );
  });

  test("scope may narrow the access token; the refresh token keeps the grant", async () => {
    const issued = await exchangeFreshCode();
    const narrowed = await token({
      grant_type: "refresh_token",
      refresh_token: issued.refresh_token,
      scope: "profile:read",
    });
    assert.equal(narrowed.statusCode, 200, narrowed.body);
    assert.equal(narrowed.json().scope, "profile:read");
    assert.equal(decodeJwt(narrowed.json().access_token).scope, "profile:read");
    const again = await token({ grant_type: "refresh_token", refresh_token: narrowed.json().refresh_token });
    assert.equal(again.json().scope, issued.scope);
  });

  test("scope may not widen, and the refused request does not consume the token", async () => {
    const issued = await exchangeFreshCode({ scope: "profile:read" });
    const wider = await token({
      grant_type: "refresh_token",
      refresh_token: issued.refresh_token,
      scope: "profile:read asset:read",
    });
    assertCanvaError(wider, 400, "invalid_scope", /asset:read/);
    const ok = await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token });
    assert.equal(ok.statusCode, 200, ok.body);
  });

  test("an expired refresh token is refused", async () => {
    const issued = await exchangeFreshCode();
    const lifetime = h.runtime.config.refreshTokenTtlMs + 1;
    h.advanceClock(lifetime);
    try {
      const res = await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token });
      assertCanvaError(res, 400, "invalid_grant", /expired/);
    } finally {
      h.advanceClock(-lifetime);
    }
  });

  test("another client cannot use, or burn, a refresh token", async () => {
    const issued = await exchangeFreshCode();
    const other = await h.createClient();
    const stolen = await token(
      { grant_type: "refresh_token", refresh_token: issued.refresh_token },
      { authorization: other.basic },
    );
    assertCanvaError(stolen, 400, "invalid_grant");
    const res = await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token });
    assert.equal(res.statusCode, 200);
  });
});

describe("token endpoint errors", () => {
  test("wrong secret: 401 invalid_client with a Basic challenge", async () => {
    const basic = `Basic ${Buffer.from(`${client.clientId}:cnvcaWRONG`).toString("base64")}`;
    const res = await token({ grant_type: "refresh_token", refresh_token: "x" }, { authorization: basic });
    assertCanvaError(res, 401, "invalid_client", `Client secret is invalid for ${client.clientId}`);
    assert.match(String(res.headers["www-authenticate"]), /^Basic /);
  });

  test("Basic credentials are form-encoded (RFC 6749 §2.3.1): encoded ones authenticate, malformed ones are refused", async () => {
    // "-" as %2D in the id, and the secret's first letter as %63: the same credentials, encoded.
    const encoded = `${client.clientId.replace("-", "%2D")}:%63${client.clientSecret.slice(1)}`;
    const ok = await token(
      { grant_type: "refresh_token", refresh_token: "x" },
      { authorization: `Basic ${Buffer.from(encoded).toString("base64")}` },
    );
    assertCanvaError(ok, 400, "invalid_grant");
    const malformed = `Basic ${Buffer.from(`${client.clientId}:%zz${client.clientSecret}`).toString("base64")}`;
    const res = await token({ grant_type: "refresh_token", refresh_token: "x" }, { authorization: malformed });
    assertCanvaError(res, 401, "invalid_client", "Malformed basic authorization header");
  });

  test("wrong secret in the body: 401 without a Basic challenge", async () => {
    const res = await token(
      { grant_type: "refresh_token", refresh_token: "x", client_id: client.clientId, client_secret: "cnvcaWRONG" },
      {},
    );
    assertCanvaError(res, 401, "invalid_client");
    assert.equal(res.headers["www-authenticate"], undefined);
  });

  test("unknown client: 401 invalid_client", async () => {
    const basic = `Basic ${Buffer.from("OC-nobody:cnvcaX").toString("base64")}`;
    assertCanvaError(
      await token({ grant_type: "refresh_token", refresh_token: "x" }, { authorization: basic }),
      401,
      "invalid_client",
    );
  });

  test("no client authentication: 401 invalid_client", async () => {
    assertCanvaError(await token({ grant_type: "refresh_token", refresh_token: "x" }, {}), 401, "invalid_client");
  });

  test("malformed Basic header: 401 invalid_client", async () => {
    assertCanvaError(
      await token({ grant_type: "refresh_token" }, { authorization: "Basic !!!" }),
      401,
      "invalid_client",
    );
  });

  test("Basic with a different secret in the body: 400 unauthorized_client", async () => {
    const res = await token({
      grant_type: "refresh_token",
      refresh_token: "x",
      client_secret: `${client.clientSecret}x`,
    });
    // RFC 6749 §5.2 calls more than one way of authenticating the client invalid_request.
    assert.equal(res.json().error, "invalid_request");
    const otherId = await token({ grant_type: "refresh_token", refresh_token: "x", client_id: "OC-someone-else" });
    assertCanvaError(otherId, 400, "unauthorized_client", "client_id body param does not match the basic auth client");
    assert.equal(otherId.json().error, "invalid_request");
    assertCanvaError(
      res,
      400,
      "unauthorized_client",
      "The client must either be authenticated using basic auth or body parameters.",
    );
  });

  test("Basic with the same secret in the body authenticates as Basic", async () => {
    const res = await token({ grant_type: "refresh_token", refresh_token: "x", client_secret: client.clientSecret });
    assertCanvaError(res, 400, "invalid_grant");
    const wrong = `Basic ${Buffer.from(`${client.clientId}:wrong`).toString("base64")}`;
    const forged = await token(
      { grant_type: "refresh_token", refresh_token: "x", client_secret: "wrong" },
      { authorization: wrong },
    );
    assertCanvaError(forged, 401, "invalid_client");
  });

  test("a repeated parameter: 400 invalid_field", async () => {
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: FORM,
      payload: `client_id=${client.clientId}&client_id=${client.clientId}&client_secret=${client.clientSecret}&grant_type=refresh_token`,
    });
    assertCanvaError(res, 400, "invalid_field", "client_id body param must have a single value");
  });

  test("a blank parameter: 400 invalid_field", async () => {
    const res = await token({ grant_type: "" });
    assertCanvaError(res, 400, "invalid_field", "grant_type body param must not be blank or empty");
  });

  test("missing and unsupported grant types", async () => {
    assertCanvaError(await token({}), 400, "invalid_request", "grant_type is required");
    assertCanvaError(await token({ grant_type: "password" }), 400, "unsupported_grant_type");
    assertCanvaError(await token({ grant_type: "client_credentials" }), 400, "unsupported_grant_type");
  });

  test("missing refresh_token or code: invalid_request", async () => {
    assertCanvaError(await token({ grant_type: "refresh_token" }), 400, "invalid_request", "refresh_token is required");
    assertCanvaError(
      await token({ grant_type: "authorization_code", code_verifier: "a".repeat(43) }),
      400,
      "invalid_request",
      "code is required",
    );
  });

  test("an oversized body: 400 bad_request_body", async () => {
    const res = await token({ grant_type: "refresh_token", refresh_token: "x".repeat(64 * 1024) });
    assertCanvaError(res, 400, "bad_request_body", "Request body too large");
  });

  test("too many parameters: 400 bad_request_body", async () => {
    const payload = Array.from({ length: 100 }, (_, i) => `p${i}=1`).join("&");
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: { ...FORM, authorization: client.basic },
      payload,
    });
    assertCanvaError(res, 400, "bad_request_body");
  });

  test("a JSON body, well-formed, malformed or empty: 415 with a clear message", async () => {
    for (const payload of [JSON.stringify({ grant_type: "refresh_token" }), "{", ""]) {
      const res = await h.app.inject({
        method: "POST",
        url: "/rest/v1/oauth/token",
        headers: { "content-type": "application/json", authorization: client.basic },
        payload,
      });
      assertCanvaError(res, 415, "unsupported_media_type", /application\/x-www-form-urlencoded/);
    }
  });

  test("the same endpoints answer under /auth as Canva's newest spec lists", async () => {
    const issued = await exchangeFreshCode();
    const res = await h.app.inject({
      method: "POST",
      url: "/auth/v1/oauth/token",
      headers: { ...FORM, authorization: client.basic },
      payload: form({ grant_type: "refresh_token", refresh_token: issued.refresh_token }),
    });
    assert.equal(res.statusCode, 200, res.body);
  });

  test("no CORS headers, even when a browser origin asks", async () => {
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: { ...FORM, origin: "https://evil.example" },
      payload: form({ grant_type: "refresh_token" }),
    });
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    const preflight = await h.app.inject({
      method: "OPTIONS",
      url: "/rest/v1/oauth/token",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(preflight.headers["access-control-allow-origin"], undefined);
  });
});
