import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createHarness, FORM, form, type Harness, pkcePair, REDIRECT_URI, type TestClient } from "./support/harness.js";

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

async function exchange(client: TestClient, scope: string) {
  return h.exchangeCode(client, await h.createUser(), { scope });
}

const update = (client: TestClient, changes: Parameters<Harness["runtime"]["core"]["store"]["updateClient"]>[1]) =>
  h.runtime.core.store.updateClient(client.clientId, changes, h.runtime.core.now());

describe("a client whose scopes were narrowed", () => {
  test("refreshes into tokens that carry only the scopes it still holds, for good", async () => {
    const client = await h.createClient({ scope: "profile:read design:meta:read" });
    const issued = await exchange(client, "profile:read design:meta:read");
    assert.equal(issued.json().scope, "profile:read design:meta:read");
    assert.equal(await update(client, { scopes: ["profile:read", "asset:read"] }), true);

    const asked = await h.refresh(client, issued.json().refresh_token, "design:meta:read");
    assert.equal(asked.statusCode, 400);
    assert.equal(asked.json().error, "invalid_scope");
    assert.equal(asked.json().error_description, "Scopes not allowed for this client: design:meta:read");

    const refreshed = await h.refresh(client, issued.json().refresh_token);
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    assert.equal(refreshed.json().scope, "profile:read");

    // Given back to the client, the scope does not come back to a lineage that lost it.
    await update(client, { scopes: ["profile:read", "design:meta:read"] });
    const again = await h.refresh(client, refreshed.json().refresh_token);
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().scope, "profile:read");
  });

  test("a code exchanged after the change carries only the scopes still held", async () => {
    const client = await h.createClient({ scope: "profile:read design:meta:read" });
    const user = await h.createUser();
    const { code, verifier } = await h.issueCode(client, user, { scope: "profile:read design:meta:read" });
    await update(client, { scopes: ["design:meta:read"] });
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: { ...FORM, authorization: client.basic },
      payload: form({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI }),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().scope, "design:meta:read");
  });

  test("with none of its granted scopes left, refresh is invalid_grant in both dialects", async () => {
    const client = await h.createClient({ scope: "profile:read asset:read" });
    const issued = await exchange(client, "profile:read");
    await update(client, { scopes: ["asset:read"] });
    const canva = await h.refresh(client, issued.json().refresh_token);
    assert.equal(canva.statusCode, 400);
    assert.equal(canva.json().error, "invalid_grant");
    assert.equal(canva.json().error_description, "None of the granted scopes is still allowed for this client");

    const cal = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${client.clientId}/refresh`,
      headers: { "content-type": "application/json", "x-cal-secret-key": client.clientSecret },
      payload: JSON.stringify({ refreshToken: issued.json().refresh_token }),
    });
    assert.equal(cal.statusCode, 400, cal.body);
    assert.equal(cal.json().status, "error");
  });
});

test("a user's connections list what the client may still do with their consent", async () => {
  const client = await h.createClient({ scope: "profile:read design:meta:read" });
  const user = await h.createUser();
  await h.exchangeCode(client, user, { scope: "profile:read design:meta:read" });
  const { listConnections } = await import("../src/core/connections.js");
  const scopesOf = async () => (await listConnections(h.runtime.core, user.userId)).map((c) => c.scopes.join(" "));
  assert.deepEqual(await scopesOf(), ["profile:read design:meta:read"]);
  await update(client, { scopes: ["design:meta:read"] });
  assert.deepEqual(await scopesOf(), ["design:meta:read"]);
  // With nothing left it is still listed, so that the user can still disconnect the tokens it holds.
  await update(client, { scopes: ["asset:read"] });
  assert.deepEqual(await scopesOf(), [""]);
});

describe("a client whose redirect URIs were replaced", () => {
  const authorizeUrl = (client: TestClient, redirectUri: string) =>
    `/api/oauth/authorize?response_type=code&client_id=${client.clientId}&scope=profile:read` +
    `&code_challenge=${pkcePair().challenge}&code_challenge_method=S256&redirect_uri=${encodeURIComponent(redirectUri)}`;

  test("authorizes to the new list only", async () => {
    const client = await h.createClient();
    const moved = "https://client.example/new-callback";
    assert.equal((await h.app.inject({ url: authorizeUrl(client, moved) })).statusCode, 400);
    assert.equal(await update(client, { redirectUris: [moved] }), true);
    assert.equal((await h.app.inject({ url: authorizeUrl(client, moved) })).statusCode, 200);
    const old = await h.app.inject({ url: authorizeUrl(client, REDIRECT_URI) });
    assert.equal(old.statusCode, 400);
    assert.equal(old.headers.location, undefined);
  });
});

test("updating a client that does not exist changes nothing", async () => {
  assert.equal(await h.runtime.core.store.updateClient("OC-missing", { name: "x" }, 0), false);
});
