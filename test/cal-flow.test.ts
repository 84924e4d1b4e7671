import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import {
  assertCalError,
  authorize,
  codeFrom,
  exchangeCode,
  introspect,
  keysFrom,
  refresh,
  sessionCookie,
  signInThroughLoginPage,
} from "./support/cal-flow.js";
import { createHarness, type Harness, REDIRECT_URI } from "./support/harness.js";

const HOUR_MS = 60 * 60 * 1000;
const YEAR_MS = 365 * 24 * HOUR_MS;

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

describe("Cal.com's own e2e spec, user not authenticated", () => {
  test("authorize without a session cookie is 401", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/v2/oauth/100/authorize" });
    assertCalError(res, 401, "UnauthorizedException");
  });

  test("exchange without a Bearer Authorization header is 400", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/v2/oauth/100/exchange" });
    // As in Cal.com, the missing body's validation answers before the missing code.
    assertCalError(res, 400, "BadRequestException", "clientSecret must be a string");
  });

  test("refresh without x-cal-secret-key is 401", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/v2/oauth/100/refresh" });
    assertCalError(res, 401, "UnauthorizedException");
  });
});

for (const prefix of ["/v2", "/api/v2"]) {
  describe(`Cal.com's own e2e spec, user authenticated, under ${prefix}`, () => {
    test("authorize, exchange and refresh", async () => {
      const client = await h.createClient();
      const user = await h.createUser();
      const cookie = await signInThroughLoginPage(h, user);
      const ownerId = h.runtime.core.keys.pairwiseId(client.clientId, user.userId);

      const authorized = await authorize(h, client.clientId, { cookie, prefix });
      assert.equal(authorized.statusCode, 302);
      assert.ok(String(authorized.headers.location).startsWith(`${REDIRECT_URI}?code=`));
      assert.equal(authorized.headers["cache-control"], "no-store");
      const code = codeFrom(authorized);

      const before = Date.now();
      const exchanged = await exchangeCode(h, client, code, { prefix });
      assert.equal(exchanged.headers["cache-control"], "no-store");
      const keys = keysFrom(exchanged);
      assert.deepEqual(Object.keys(exchanged.json()).sort(), ["data", "status"]);
      assert.deepEqual(Object.keys(keys).sort(), [
        "accessToken",
        "accessTokenExpiresAt",
        "refreshToken",
        "refreshTokenExpiresAt",
      ]);
      assert.ok(Math.abs(keys.accessTokenExpiresAt - (before + HOUR_MS)) < 5000, "access lives 60 minutes");
      assert.ok(Math.abs(keys.refreshTokenExpiresAt - (before + YEAR_MS)) < 5000, "refresh lives a year");

      const access = decodeJwt(keys.accessToken);
      assert.equal(access.clientId, client.clientId);
      assert.equal(access.ownerId, ownerId);
      assert.equal(access.type, "access_token");
      assert.equal(access.expiresAt, new Date(keys.accessTokenExpiresAt).valueOf());
      // The millisecond expiry and the JWT's exp name the same moment.
      assert.equal(access.expiresAt, (access.exp ?? 0) * 1000);
      assert.ok((access.iat ?? 0) > 0);
      assert.equal(access.userId, undefined, "only refreshed tokens carry userId");
      const refreshClaims = decodeJwt(keys.refreshToken);
      assert.equal(refreshClaims.clientId, client.clientId);
      assert.equal(refreshClaims.ownerId, ownerId);
      assert.equal(refreshClaims.type, "refresh_token");
      assert.equal(refreshClaims.expiresAt, new Date(keys.refreshTokenExpiresAt).valueOf());
      assert.equal(refreshClaims.expiresAt, (refreshClaims.exp ?? 0) * 1000);
      assert.ok((refreshClaims.iat ?? 0) > 0);
      // Access tokens verify against the published keys; refresh tokens, signed by a secret key, never do,
      // so a resource server that checks only the issuer cannot take one for an access token.
      const jwks = createLocalJWKSet((await h.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json());
      await jwtVerify(keys.accessToken, jwks, { issuer: String(access.iss) });
      assert.deepEqual(decodeProtectedHeader(keys.refreshToken), { alg: "HS256", typ: "JWT" });
      await assert.rejects(jwtVerify(keys.refreshToken, jwks, { issuer: String(access.iss) }));

      const refreshed = await refresh(h, client, keys.refreshToken, { prefix });
      assert.equal(refreshed.headers["cache-control"], "no-store");
      const next = keysFrom(refreshed);
      assert.notEqual(next.accessToken, keys.accessToken);
      assert.notEqual(next.refreshToken, keys.refreshToken);
      for (const [token, type, expiresAt] of [
        [next.accessToken, "access_token", next.accessTokenExpiresAt],
        [next.refreshToken, "refresh_token", next.refreshTokenExpiresAt],
      ] as const) {
        const claims = decodeJwt(token);
        assert.equal(claims.clientId, client.clientId);
        assert.equal(claims.ownerId, ownerId);
        assert.equal(claims.userId, ownerId);
        assert.equal(claims.type, type);
        assert.equal(claims.expiresAt, new Date(expiresAt).valueOf());
        assert.ok((claims.iat ?? 0) > 0);
      }
      assert.equal((await introspect(h, client, next.accessToken)).active, true);
      assert.equal((await introspect(h, client, keys.refreshToken)).active, false, "the old refresh token is spent");
    });
  });
}

test("every Cal response carries X-Request-Id, success or error", async () => {
  const client = await h.createClient();
  const user = await h.createUser();
  const responses = [
    await authorize(h, client.clientId, { cookie: await sessionCookie(h, user) }),
    await authorize(h, client.clientId),
    await h.app.inject({ method: "POST", url: "/v2/oauth/x/nowhere" }),
    await h.app.inject({
      method: "POST",
      url: "/v2/oauth/x/exchange",
      headers: { "content-type": "application/json" },
      payload: "{",
    }),
  ];
  for (const res of responses) {
    assert.match(String(res.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
  }
  assert.notEqual(responses[0]?.headers["x-request-id"], responses[1]?.headers["x-request-id"]);
});
