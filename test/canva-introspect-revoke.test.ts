import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeJwt } from "jose";
import {
  createHarness,
  FORM,
  form,
  type Harness,
  REDIRECT_URI,
  type TestClient,
  type TestUser,
} from "./support/harness.js";

let h: Harness;
let client: TestClient;
let user: TestUser;

before(async () => {
  h = await createHarness();
  client = await h.createClient();
  user = await h.createUser({ displayName: "Ada Lovelace" });
});
after(() => h.close());

async function post(path: string, body: Record<string, string>, as: TestClient = client) {
  return h.app.inject({
    method: "POST",
    url: `/rest/v1/oauth/${path}`,
    headers: { ...FORM, authorization: as.basic },
    payload: form(body),
  });
}

async function issue(scope?: string) {
  const { code, verifier } = await h.issueCode(client, user, { scope });
  const res = await post("token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { access_token: string; refresh_token: string; scope: string };
}

function get(path: string, bearer?: string) {
  return h.app.inject({ method: "GET", url: path, headers: bearer === undefined ? {} : { authorization: bearer } });
}

describe("introspect", () => {
  test("an active access token shows Canva's fields", async () => {
    const tokens = await issue();
    const res = await post("introspect", { token: tokens.access_token });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["cache-control"], "no-store");
    const body = res.json();
    const claims = decodeJwt(tokens.access_token);
    assert.equal(body.active, true);
    assert.equal(body.scope, tokens.scope);
    assert.equal(body.client, client.clientId);
    assert.equal(body.token_type, "Bearer", "RFC 7662: the type RFC 6749 §5.1 gives the token");
    assert.equal(body.sub, claims.sub);
    assert.equal(body.jti, claims.jti);
    assert.equal(body.exp, claims.exp);
    assert.equal(body.iat, claims.iat);
    assert.equal(body.nbf, claims.nbf);
  });

  test("an active refresh token is active too", async () => {
    const tokens = await issue();
    const body = (await post("introspect", { token: tokens.refresh_token })).json();
    assert.equal(body.active, true);
    assert.ok(!("token_type" in body));
    assert.equal(body.client, client.clientId);
  });

  test("another client's token, garbage and expired tokens are just inactive", async () => {
    const tokens = await issue();
    const other = await h.createClient();
    assert.deepEqual((await post("introspect", { token: tokens.access_token }, other)).json(), { active: false });
    assert.deepEqual((await post("introspect", { token: "garbage" })).json(), { active: false });
    assert.deepEqual((await post("introspect", { token: "x".repeat(5000) })).json(), { active: false });
    h.advanceClock(4 * 3600 * 1000 + 1000);
    try {
      assert.deepEqual((await post("introspect", { token: tokens.access_token })).json(), { active: false });
    } finally {
      h.advanceClock(-(4 * 3600 * 1000 + 1000));
    }
  });

  test("requires client authentication and a token", async () => {
    const tokens = await issue();
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/introspect",
      headers: FORM,
      payload: form({ token: tokens.access_token }),
    });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, "invalid_client");
    const missing = await post("introspect", {});
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().code, "invalid_request");
  });
});

describe("revoke", () => {
  test("revoking an access token revokes its lineage", async () => {
    const tokens = await issue();
    const res = await post("revoke", { token: tokens.access_token });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {});
    assert.deepEqual((await post("introspect", { token: tokens.access_token })).json(), { active: false });
    assert.deepEqual((await post("introspect", { token: tokens.refresh_token })).json(), { active: false });
    const refresh = await post("token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    assert.equal(refresh.json().code, "invalid_grant");
  });

  test("revoking a refresh token revokes its access tokens and the user's consent", async () => {
    const tokens = await issue();
    const rotated = (await post("token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token })).json();
    assert.ok(await h.runtime.core.store.getConsent(client.clientId, user.userId));
    assert.deepEqual((await post("revoke", { token: rotated.refresh_token })).json(), {});
    assert.deepEqual((await post("introspect", { token: rotated.access_token })).json(), { active: false });
    assert.deepEqual((await post("introspect", { token: tokens.access_token })).json(), { active: false });
    assert.equal(await h.runtime.core.store.getConsent(client.clientId, user.userId), undefined);
  });

  test("Canva's starter kit disconnects with Basic and the same credentials in the body", async () => {
    const tokens = await issue();
    const res = await post("revoke", {
      client_secret: client.clientSecret,
      client_id: client.clientId,
      token: tokens.refresh_token,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {});
    assert.deepEqual((await post("introspect", { token: tokens.access_token })).json(), { active: false });
    assert.equal(await h.runtime.core.store.getConsent(client.clientId, user.userId), undefined);
  });

  test("revoking a refresh token ends every lineage of that user with the client, and nothing else", async () => {
    const [first, second] = [await issue(), await issue()];
    const pending = await h.issueCode(client, user);
    const otherUser = await h.createUser();
    const { code: otherCode, verifier: otherVerifier } = await h.issueCode(client, otherUser);
    const otherTokens = (
      await post("token", {
        grant_type: "authorization_code",
        code: otherCode,
        code_verifier: otherVerifier,
        redirect_uri: REDIRECT_URI,
      })
    ).json();

    assert.deepEqual((await post("revoke", { token: first.refresh_token })).json(), {});
    for (const token of [second.access_token, second.refresh_token]) {
      assert.deepEqual((await post("introspect", { token })).json(), { active: false });
    }
    const refreshed = await post("token", { grant_type: "refresh_token", refresh_token: second.refresh_token });
    assert.equal(refreshed.json().code, "invalid_grant");
    const exchanged = await post("token", {
      grant_type: "authorization_code",
      code: pending.code,
      code_verifier: pending.verifier,
      redirect_uri: REDIRECT_URI,
    });
    assert.equal(exchanged.json().code, "invalid_grant", "a code issued before the consent was withdrawn");
    assert.equal((await post("introspect", { token: otherTokens.access_token })).json().active, true);
  });

  test("revoking an access token leaves the user's other lineages alone", async () => {
    const [first, second] = [await issue(), await issue()];
    assert.deepEqual((await post("revoke", { token: first.access_token })).json(), {});
    assert.equal((await post("introspect", { token: first.refresh_token })).json().active, false);
    assert.equal((await post("introspect", { token: second.refresh_token })).json().active, true);
  });

  test("revoking twice is fine", async () => {
    const tokens = await issue();
    assert.equal((await post("revoke", { token: tokens.access_token })).statusCode, 200);
    assert.equal((await post("revoke", { token: tokens.access_token })).statusCode, 200);
  });

  test("an unknown token, or another client's, is 400 bad_request_params", async () => {
    const tokens = await issue();
    const unknown = await post("revoke", { token: "not-a-token" });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().code, "bad_request_params");
    assert.equal(unknown.json().message, "Token is neither an access or refresh token");
    const other = await h.createClient();
    const foreign = await post("revoke", { token: tokens.access_token }, other);
    assert.equal(foreign.json().code, "bad_request_params");
    assert.equal((await post("introspect", { token: tokens.access_token })).json().active, true);
  });
});

describe("user endpoints", () => {
  test("users/me returns the pairwise user id and a team id", async () => {
    const tokens = await issue();
    const res = await get("/rest/v1/users/me", `Bearer ${tokens.access_token}`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.team_user.user_id, decodeJwt(tokens.access_token).sub);
    assert.match(body.team_user.team_id, /^[A-Za-z0-9_-]{22}$/);
  });

  test("users/me/profile needs profile:read", async () => {
    const withScope = await issue("profile:read");
    const res = await get("/rest/v1/users/me/profile", `Bearer ${withScope.access_token}`);
    assert.deepEqual(res.json(), { profile: { display_name: "Ada Lovelace" } });
    const without = await issue("design:meta:read");
    const denied = await get("/rest/v1/users/me/profile", `Bearer ${without.access_token}`);
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().code, "missing_scope");
    assert.equal(denied.json().message, "Missing scopes: profile:read");
  });

  test("a browser may call the user endpoints from any origin, and not the OAuth endpoints", async () => {
    const origin = { origin: "https://app.example" };
    for (const url of ["/rest/v1/users/me", "/rest/v1/users/me/profile"]) {
      const preflight = await h.app.inject({
        method: "OPTIONS",
        url,
        headers: {
          ...origin,
          "access-control-request-method": "GET",
          "access-control-request-headers": "authorization",
        },
      });
      assert.equal(preflight.statusCode, 204, url);
      assert.equal(preflight.headers["access-control-allow-origin"], "*");
      assert.equal(preflight.headers["access-control-allow-methods"], "GET");
      assert.equal(preflight.headers["access-control-allow-headers"], "authorization");
    }
    const tokens = await issue();
    const ok = await h.app.inject({
      method: "GET",
      url: "/rest/v1/users/me/profile",
      headers: { ...origin, authorization: `Bearer ${tokens.access_token}` },
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers["access-control-allow-origin"], "*");
    // An error must be readable too, or a browser client could not tell an expired token from a network failure.
    const refused = await h.app.inject({ method: "GET", url: "/rest/v1/users/me", headers: origin });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.headers["access-control-allow-origin"], "*");
    assert.match(String(refused.headers["access-control-expose-headers"]), /www-authenticate/);
    const token = await h.app.inject({ method: "POST", url: "/rest/v1/oauth/token", headers: origin });
    assert.equal(token.headers["access-control-allow-origin"], undefined);
    const tokenPreflight = await h.app.inject({ method: "OPTIONS", url: "/rest/v1/oauth/token", headers: origin });
    assert.equal(tokenPreflight.headers["access-control-allow-origin"], undefined);
  });

  test("missing, malformed, invalid and revoked tokens", async () => {
    const missing = await get("/rest/v1/users/me");
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().code, "invalid_access_token");
    assert.equal(missing.json().message, "Missing Authorization header");
    // RFC 6750 §3.1: no bearer token at all, or another scheme, is challenged without an error code.
    assert.equal(missing.headers["www-authenticate"], 'Bearer realm="keyward"');
    const malformed = await get("/rest/v1/users/me", "Token abc");
    assert.equal(malformed.json().message, "Malformed Authorization header");
    assert.equal(malformed.headers["www-authenticate"], 'Bearer realm="keyward"');
    const badBearer = await get("/rest/v1/users/me", "Bearer a b");
    assert.equal(badBearer.json().message, "Malformed Authorization header");
    assert.match(String(badBearer.headers["www-authenticate"]), /^Bearer .*error="invalid_token"/);
    const invalid = await get("/rest/v1/users/me", "Bearer abc.def.ghi");
    assert.equal(invalid.statusCode, 401);
    assert.equal(invalid.json().message, "Access token is invalid");
    assert.match(String(invalid.headers["www-authenticate"]), /^Bearer .*error="invalid_token"/);
    const tokens = await issue();
    await post("revoke", { token: tokens.access_token });
    const revoked = await get("/rest/v1/users/me", `Bearer ${tokens.access_token}`);
    assert.equal(revoked.statusCode, 401);
    assert.equal(revoked.json().code, "revoked_access_token");
  });

  test("a refresh token is not an access token", async () => {
    const tokens = await issue();
    const res = await get("/rest/v1/users/me", `Bearer ${tokens.refresh_token}`);
    assert.equal(res.json().code, "invalid_access_token");
  });
});

describe("metadata", () => {
  test("with an issuer path, RFC 8414 §3.1's URL for it answers too", async () => {
    const behindProxy = await createHarness({ KEYWARD_ISSUER: "https://id.example/auth" });
    try {
      const res = await behindProxy.app.inject({ method: "GET", url: "/.well-known/oauth-authorization-server/auth" });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().issuer, "https://id.example/auth");
      assert.equal(res.json().token_endpoint, "https://id.example/auth/rest/v1/oauth/token");
      const other = await behindProxy.app.inject({ method: "GET", url: "/.well-known/oauth-authorization-server/x" });
      assert.equal(other.statusCode, 404);
    } finally {
      await behindProxy.close();
    }
  });

  test("RFC 8414 metadata describes the endpoints", async () => {
    const res = await get("/.well-known/oauth-authorization-server");
    const m = res.json();
    assert.equal(m.issuer, "http://keyward.test");
    assert.equal(m.authorization_endpoint, "http://keyward.test/api/oauth/authorize");
    assert.equal(m.token_endpoint, "http://keyward.test/rest/v1/oauth/token");
    assert.equal(m.introspection_endpoint, "http://keyward.test/rest/v1/oauth/introspect");
    assert.equal(m.revocation_endpoint, "http://keyward.test/rest/v1/oauth/revoke");
    assert.equal(m.jwks_uri, "http://keyward.test/.well-known/jwks.json");
    assert.deepEqual(m.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(m.grant_types_supported, ["authorization_code", "refresh_token"]);
    assert.deepEqual(m.token_endpoint_auth_methods_supported, ["client_secret_basic", "client_secret_post"]);
    assert.ok(m.scopes_supported.includes("profile:read"));
    assert.equal(m.authorization_response_iss_parameter_supported, true);
  });

  test("the JWKS publishes public EC keys only", async () => {
    const { keys } = (await get("/.well-known/jwks.json")).json();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kty, "EC");
    assert.equal(keys[0].crv, "P-256");
    assert.equal(keys[0].alg, "ES256");
    assert.equal(keys[0].d, undefined);
  });

  test("the signing key's private part is stored encrypted", async () => {
    const [record] = await h.runtime.core.store.listSigningKeys(Date.now());
    assert.ok(record);
    assert.match(record.privateJwkEncrypted, /^v1\./);
    assert.ok(!record.privateJwkEncrypted.includes('"d"'));
  });

  test("nothing secret is stored in the clear", async () => {
    const tokens = await issue();
    const db = h.runtime.opened.db;
    const rows = await db.selectFrom("tokens").select("hash").execute();
    const hashes = rows.map((r) => r.hash);
    assert.ok(!hashes.includes(tokens.refresh_token));
    assert.ok(!hashes.includes(tokens.access_token));
    const clients = await db.selectFrom("clients").select("secret_hash").execute();
    assert.ok(clients.every((c) => c.secret_hash !== client.clientSecret && !c.secret_hash.startsWith("cnvca")));
    const users = await db.selectFrom("users").select("password_hash").execute();
    assert.ok(users.every((u) => u.password_hash.startsWith("scrypt$")));
  });
});

test("an unknown path under Canva's base paths is 404 in Canva's shape, never cached", async () => {
  for (const [method, url] of [
    ["GET", "/rest/v1/nothing-here"],
    ["POST", "/auth/v1/oauth/nothing-here"],
  ] as const) {
    const res = await h.app.inject({ method, url });
    assert.equal(res.statusCode, 404, url);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    assert.equal(res.headers["cache-control"], "no-store");
    assert.equal(res.headers.pragma, "no-cache");
    assert.deepEqual(res.json(), {
      code: "not_found",
      message: "Not found",
      error: "invalid_request",
      error_description: "Not found",
    });
  }
});
