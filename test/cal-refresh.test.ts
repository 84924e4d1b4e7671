import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertCalError, introspect, JSON_TYPE, keysFrom, obtainKeys, refresh } from "./support/cal-flow.js";
import { createHarness, type Harness } from "./support/harness.js";

describe("refresh", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  test("a missing, empty or wrong secret is 401, and the token survives", async () => {
    const { client, keys } = await obtainKeys(h);
    const other = await h.createClient();
    const url = `/v2/oauth/${client.clientId}/refresh`;
    const payload = JSON.stringify({ refreshToken: keys.refreshToken });
    for (const secret of [undefined, "", `${client.clientSecret}x`, other.clientSecret]) {
      const headers: Record<string, string> = { ...JSON_TYPE };
      if (secret !== undefined) headers["x-cal-secret-key"] = secret;
      const res = await h.app.inject({ method: "POST", url, headers, payload });
      assertCalError(res, 401, "UnauthorizedException");
    }
    const wrongClient = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${other.clientId}/refresh`,
      headers: { ...JSON_TYPE, "x-cal-secret-key": client.clientSecret },
      payload,
    });
    assertCalError(wrongClient, 401, "UnauthorizedException");
    keysFrom(await refresh(h, client, keys.refreshToken));
  });

  test("an unknown token, or another client's, is 400 Invalid refresh token", async () => {
    const { client, keys } = await obtainKeys(h);
    const other = await obtainKeys(h);
    assertCalError(await refresh(h, client, "nope"), 400, "BadRequestException", "Invalid refresh token");
    assertCalError(await refresh(h, client, keys.accessToken), 400, "BadRequestException", "Invalid refresh token");
    const crossed = await refresh(h, client, other.keys.refreshToken);
    assertCalError(crossed, 400, "BadRequestException", "Invalid refresh token");
    keysFrom(await refresh(h, other.client, other.keys.refreshToken));
  });

  test("an empty refreshToken is a string, and an invalid refresh token", async () => {
    const { client, keys } = await obtainKeys(h);
    assertCalError(await refresh(h, client, ""), 400, "BadRequestException", "Invalid refresh token");
    keysFrom(await refresh(h, client, keys.refreshToken));
  });

  test("a grant whose scopes the client has all lost is an invalid refresh token, in Cal.com's words", async () => {
    const client = await h.createClient({ scope: "profile:read" });
    const { keys } = await obtainKeys(h, client);
    const store = h.runtime.core.store;
    assert.equal(await store.updateClient(client.clientId, { scopes: ["asset:read"] }, h.runtime.core.now()), true);
    assertCalError(await refresh(h, client, keys.refreshToken), 400, "BadRequestException", "Invalid refresh token");
  });

  test("a body that is not JSON reads as no body, as in Cal.com: a validation error, not 415", async () => {
    const { client, keys } = await obtainKeys(h);
    const url = `/v2/oauth/${client.clientId}/refresh`;
    for (const [type, payload] of [
      ["text/plain", JSON.stringify({ refreshToken: keys.refreshToken })],
      ["application/x-www-form-urlencoded", `refreshToken=${encodeURIComponent(keys.refreshToken)}`],
      ["application/xml", "<a/>"],
    ] as const) {
      const headers = { "content-type": type, "x-cal-secret-key": client.clientSecret };
      const res = await h.app.inject({ method: "POST", url, headers, payload });
      assertCalError(res, 400, "BadRequestException", "refreshToken must be a string");
    }
    keysFrom(await refresh(h, client, keys.refreshToken));
  });

  test("a missing refreshToken is a validation error", async () => {
    const { client } = await obtainKeys(h);
    const res = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${client.clientId}/refresh`,
      headers: { ...JSON_TYPE, "x-cal-secret-key": client.clientSecret },
      payload: "{}",
    });
    const error = assertCalError(res, 400, "BadRequestException", "refreshToken must be a string");
    assert.equal((error.details.errors as { property: string }[])[0]?.property, "refreshToken");
  });

  test("a consumed refresh token presented again revokes its whole lineage", async () => {
    const { client, keys } = await obtainKeys(h);
    const second = keysFrom(await refresh(h, client, keys.refreshToken));
    const third = keysFrom(await refresh(h, client, second.refreshToken));
    assert.equal((await introspect(h, client, third.accessToken)).active, true);

    const replay = await refresh(h, client, keys.refreshToken);
    assertCalError(replay, 400, "BadRequestException", "Invalid refresh token");
    assert.equal((await introspect(h, client, third.accessToken)).active, false, "newest access token revoked");
    assert.equal((await introspect(h, client, third.refreshToken)).active, false, "newest refresh token revoked");
    assertCalError(await refresh(h, client, third.refreshToken), 400, "BadRequestException");
  });

  test("a Cal token opens the user endpoints with the scopes the client had when the user authorized it", async () => {
    const withProfile = await obtainKeys(h, await h.createClient({ scope: "profile:read" }));
    const without = await obtainKeys(h, await h.createClient({ scope: "design:meta:read" }));
    const get = (url: string, token: string) =>
      h.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${token}` } });
    assert.equal((await get("/rest/v1/users/me", without.keys.accessToken)).statusCode, 200);
    const profile = await get("/rest/v1/users/me/profile", withProfile.keys.accessToken);
    assert.equal(profile.statusCode, 200, profile.body);
    const refused = await get("/rest/v1/users/me/profile", without.keys.accessToken);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().code, "missing_scope");
  });

  test("a Cal token is active at introspection, and revoking it there ends Cal refresh", async () => {
    const { client, keys } = await obtainKeys(h);
    const activeAccess = await introspect(h, client, keys.accessToken);
    assert.equal(activeAccess.active, true);
    assert.equal((activeAccess as { client_id?: string }).client_id, client.clientId);
    assert.equal((await introspect(h, client, keys.refreshToken)).active, true);
    const other = await h.createClient();
    assert.equal((await introspect(h, other, keys.accessToken)).active, false, "only to its own client");

    const revoked = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/revoke",
      headers: { authorization: client.basic, "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams({ token: keys.refreshToken }).toString(),
    });
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal((await introspect(h, client, keys.accessToken)).active, false);
    assertCalError(await refresh(h, client, keys.refreshToken), 400, "BadRequestException", "Invalid refresh token");
  });
});

describe("refresh token expiry", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({ KEYWARD_CAL_REFRESH_TOKEN_TTL: "1" });
  });
  after(() => h.close());

  test("an expired refresh token is refused, in Cal.com's one answer", async () => {
    const { client, keys } = await obtainKeys(h);
    assert.ok(keys.refreshTokenExpiresAt - Date.now() <= 1000);
    h.advanceClock(1500);
    const res = await refresh(h, client, keys.refreshToken);
    assertCalError(res, 400, "BadRequestException", "Invalid refresh token");
  });
});
