import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createRemoteJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import {
  authorize,
  type CliClient,
  CookieJar,
  createClientWithCli,
  createUserWithCli,
  request,
  rotateKeysWithCli,
} from "./support/browserless.js";
import { type ServerProcess, startServerProcess, tempDatabase } from "./support/server-process.js";

/**
 * The whole Canva-dialect flow driven by a standard OAuth client library (oauth4webapi) against
 * a real `keyward start` process, with the client and user created through the CLI.
 */

const SECRET = "e2e-oauth-client-secret-0123456789abcdef";
const REDIRECT_URI = "https://client.example/callback";
const SCOPE = "design:meta:read profile:read asset:read";
const CLIENT_SCOPE = `${SCOPE} folder:read`;
const ACCESS_TTL_SECONDS = 14400;
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

let server: ServerProcess;
let env: Record<string, string>;
let as: oauth.AuthorizationServer;
let basicClient: CliClient;
let postClient: CliClient;
let user: { userId: string; email: string; password: string };

before(async () => {
  env = { DATABASE_URL: tempDatabase(), KEYWARD_SECRET: SECRET };
  server = await startServerProcess({ ...env, KEYWARD_KEY_RELOAD: "1" });
  // Created while the server runs: the CLI and the server share the SQLite file.
  basicClient = createClientWithCli(env, {
    name: "Basic Auth Integration",
    redirectUris: [REDIRECT_URI],
    scope: CLIENT_SCOPE,
  });
  postClient = createClientWithCli(env, {
    name: "Body Credentials Integration",
    redirectUris: [REDIRECT_URI],
    scope: CLIENT_SCOPE,
  });
  user = createUserWithCli(env, {
    email: "ada@example.com",
    password: "correct horse battery staple",
    displayName: "Ada Lovelace",
  });
  const issuer = new URL(server.url);
  const response = await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...INSECURE });
  as = await oauth.processDiscoveryResponse(issuer, response);
});

after(async () => {
  await server?.stop();
});

const clientOf = (c: CliClient): oauth.Client => ({ client_id: c.clientId });
const basicAuth = (c: CliClient) => oauth.ClientSecretBasic(c.clientSecret);
const postAuth = (c: CliClient) => oauth.ClientSecretPost(c.clientSecret);

function endpoint(name: "authorization_endpoint" | "jwks_uri"): URL {
  const value = as[name];
  assert.ok(value, `metadata has ${name}`);
  return new URL(value);
}

/** Builds the authorization URL with PKCE S256, drives the pages, and validates the callback. */
async function authorizeCode(client: CliClient, scope = SCOPE) {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
  const state = oauth.generateRandomState();
  const url = endpoint("authorization_endpoint");
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", client.clientId);
  url.searchParams.set("redirect_uri", REDIRECT_URI);
  url.searchParams.set("scope", scope);
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", codeChallenge);
  url.searchParams.set("code_challenge_method", "S256");
  const outcome = await authorize(url, user);
  assert.equal(`${outcome.redirect.origin}${outcome.redirect.pathname}`, REDIRECT_URI);
  // Checks iss against the discovered issuer and state against ours; throws on an error response.
  const params = oauth.validateAuthResponse(as, clientOf(client), outcome.redirect, state);
  assert.ok(params.get("code"));
  return { params, codeVerifier, consentShown: outcome.consentShown };
}

async function obtainTokens(client: CliClient, auth: oauth.ClientAuth, scope = SCOPE) {
  const { params, codeVerifier, consentShown } = await authorizeCode(client, scope);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    clientOf(client),
    auth,
    params,
    REDIRECT_URI,
    codeVerifier,
    INSECURE,
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, clientOf(client), response);
  assert.ok(tokens.refresh_token, "a refresh token is issued");
  return { tokens: { ...tokens, refresh_token: tokens.refresh_token }, consentShown };
}

const REQUIRED_CLAIMS = ["sub", "client_id", "client", "scope", "jti", "iat", "nbf", "exp"];

/** Verifies an access token against the published JWKS, fetched afresh. */
async function verifyAccessToken(token: string): Promise<{ payload: JWTPayload; kid: string }> {
  const jwks = createRemoteJWKSet(endpoint("jwks_uri"));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: as.issuer,
    algorithms: ["ES256"],
    typ: "at+jwt",
    requiredClaims: REQUIRED_CLAIMS,
  });
  assert.equal(protectedHeader.alg, "ES256");
  assert.equal(typeof protectedHeader.kid, "string");
  return { payload, kid: protectedHeader.kid as string };
}

/** A resource request with plain fetch, so 401/403 bodies and challenges can be inspected. */
async function usersMe(accessToken: string, path = "/rest/v1/users/me") {
  const response = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${accessToken}` } });
  return {
    status: response.status,
    challenge: response.headers.get("www-authenticate"),
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function expectRevoked(accessToken: string) {
  const me = await usersMe(accessToken);
  assert.equal(me.status, 401);
  assert.equal(me.body.code, "revoked_access_token");
  assert.match(me.challenge ?? "", /^Bearer .*error="invalid_token"/);
}

async function introspect(client: CliClient, auth: oauth.ClientAuth, token: string) {
  const response = await oauth.introspectionRequest(as, clientOf(client), auth, token, INSECURE);
  return oauth.processIntrospectionResponse(as, clientOf(client), response);
}

async function refresh(client: CliClient, auth: oauth.ClientAuth, refreshToken: string, scope?: string) {
  const options = scope === undefined ? INSECURE : { ...INSECURE, additionalParameters: { scope } };
  const response = await oauth.refreshTokenGrantRequest(as, clientOf(client), auth, refreshToken, options);
  return oauth.processRefreshTokenResponse(as, clientOf(client), response);
}

function isOAuthError(code: string, status: number) {
  return (error: unknown) => {
    assert.ok(error instanceof oauth.ResponseBodyError, `expected a ResponseBodyError, got ${error}`);
    assert.equal(error.error, code);
    assert.equal(error.status, status);
    return true;
  };
}

/** A 401 that carries a WWW-Authenticate challenge: oauth4webapi surfaces the challenge, not the body. */
async function rejectsWithChallenge(promise: Promise<unknown>, scheme: string, code: string) {
  const error = await promise.then(
    () => assert.fail("expected the request to be refused"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, `expected a challenge, got ${error}`);
  assert.equal(error.status, 401);
  assert.equal(error.cause[0]?.scheme, scheme);
  const body = (await error.response.json()) as { code?: string; error?: string };
  assert.equal(body.code, code);
  assert.equal(body.error, code);
}

test("discovery: RFC 8414 metadata names this server's endpoints", () => {
  assert.equal(as.issuer, server.url);
  assert.equal(as.authorization_endpoint, `${server.url}/api/oauth/authorize`);
  assert.equal(as.token_endpoint, `${server.url}/rest/v1/oauth/token`);
  assert.equal(as.introspection_endpoint, `${server.url}/rest/v1/oauth/introspect`);
  assert.equal(as.revocation_endpoint, `${server.url}/rest/v1/oauth/revoke`);
  assert.equal(as.jwks_uri, `${server.url}/.well-known/jwks.json`);
  assert.deepEqual(as.code_challenge_methods_supported, ["S256"]);
  assert.equal(as.authorization_response_iss_parameter_supported, true);
  assert.ok(as.token_endpoint_auth_methods_supported?.includes("client_secret_basic"));
  assert.ok(as.token_endpoint_auth_methods_supported?.includes("client_secret_post"));
});

test("authorization code + PKCE with client_secret_basic yields an ES256 JWT the JWKS verifies", async () => {
  const { tokens, consentShown } = await obtainTokens(basicClient, basicAuth(basicClient));
  assert.equal(consentShown, true, "the first authorization asks for consent");
  assert.equal(tokens.token_type, "bearer");
  assert.equal(tokens.expires_in, ACCESS_TTL_SECONDS);
  assert.equal(tokens.scope, SCOPE);
  assert.notEqual(tokens.refresh_token, tokens.access_token);

  const { payload, kid } = await verifyAccessToken(tokens.access_token);
  assert.equal(payload.client_id, basicClient.clientId);
  assert.equal(payload.client, basicClient.clientId);
  assert.equal(payload.scope, SCOPE);
  assert.notEqual(payload.sub, user.userId, "sub is a pairwise id, not the internal user id");
  assert.equal(payload.nbf, payload.iat);
  assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), ACCESS_TTL_SECONDS);
  assert.ok(Math.abs((payload.iat ?? 0) - Date.now() / 1000) < 60, "iat is now");

  const jwks = (await (await fetch(endpoint("jwks_uri"))).json()) as { keys: { kid: string; alg: string }[] };
  assert.ok(
    jwks.keys.some((k) => k.kid === kid && k.alg === "ES256"),
    "the signing key is published",
  );

  const me = await usersMe(tokens.access_token);
  assert.equal(me.status, 200);
  const teamUser = me.body.team_user as { user_id: string; team_id: string };
  assert.equal(teamUser.user_id, payload.sub);
  assert.equal(typeof teamUser.team_id, "string");
  const profile = await usersMe(tokens.access_token, "/rest/v1/users/me/profile");
  assert.equal(profile.status, 200);
  assert.deepEqual(profile.body, { profile: { display_name: "Ada Lovelace" } });

  // A second authorization for the same scopes skips consent.
  const second = await authorizeCode(basicClient);
  assert.equal(second.consentShown, false, "consent already given for these scopes");
  const exchange = () =>
    oauth
      .authorizationCodeGrantRequest(
        as,
        clientOf(basicClient),
        basicAuth(basicClient),
        second.params,
        REDIRECT_URI,
        second.codeVerifier,
        INSECURE,
      )
      .then((response) => oauth.processAuthorizationCodeResponse(as, clientOf(basicClient), response));
  const secondTokens = await exchange();
  assert.notEqual(secondTokens.access_token, tokens.access_token);
  assert.equal((await usersMe(secondTokens.access_token)).status, 200);
  // A code is single-use; replaying it revokes what it issued (RFC 6749 §4.1.2).
  await assert.rejects(exchange(), isOAuthError("invalid_grant", 400));
  await expectRevoked(secondTokens.access_token);
  assert.equal((await usersMe(tokens.access_token)).status, 200, "other lineages are untouched");
});

test("the token endpoint refuses a wrong PKCE verifier", async () => {
  const { params } = await authorizeCode(basicClient);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    clientOf(basicClient),
    basicAuth(basicClient),
    params,
    REDIRECT_URI,
    oauth.generateRandomCodeVerifier(),
    INSECURE,
  );
  await assert.rejects(
    oauth.processAuthorizationCodeResponse(as, clientOf(basicClient), response),
    isOAuthError("invalid_grant", 400),
  );
});

test("an authorization error comes back to the client with iss, as oauth4webapi expects", async () => {
  const state = oauth.generateRandomState();
  const url = endpoint("authorization_endpoint");
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", basicClient.clientId);
  url.searchParams.set("redirect_uri", REDIRECT_URI);
  url.searchParams.set("scope", "asset:write");
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()));
  url.searchParams.set("code_challenge_method", "S256");
  const page = await request(new CookieJar(), url);
  assert.equal(page.status, 302);
  assert.ok(page.location);
  assert.throws(
    () => oauth.validateAuthResponse(as, clientOf(basicClient), page.location as URL, state),
    (error: unknown) => {
      assert.ok(error instanceof oauth.AuthorizationResponseError);
      assert.equal(error.error, "invalid_scope");
      return true;
    },
  );
});

test("refresh rotates the refresh token; replaying the old one is invalid_grant and revokes the lineage", async () => {
  const auth = basicAuth(basicClient);
  const { tokens: first } = await obtainTokens(basicClient, auth);
  const second = await refresh(basicClient, auth, first.refresh_token);
  assert.ok(second.refresh_token);
  assert.notEqual(second.refresh_token, first.refresh_token, "a new refresh token on every refresh");
  assert.notEqual(second.access_token, first.access_token);
  assert.equal(second.expires_in, ACCESS_TTL_SECONDS);
  assert.equal(second.scope, SCOPE, "omitting scope keeps it");
  const { payload } = await verifyAccessToken(second.access_token);
  const { payload: firstPayload } = await verifyAccessToken(first.access_token);
  assert.equal(payload.sub, firstPayload.sub);
  assert.notEqual(payload.jti, firstPayload.jti);
  assert.equal((await introspect(basicClient, auth, second.access_token)).active, true);
  assert.equal((await introspect(basicClient, auth, first.refresh_token)).active, false, "used once");

  await assert.rejects(refresh(basicClient, auth, first.refresh_token), isOAuthError("invalid_grant", 400));

  assert.deepEqual(await introspect(basicClient, auth, second.access_token), { active: false });
  assert.deepEqual(await introspect(basicClient, auth, second.refresh_token as string), { active: false });
  await expectRevoked(second.access_token);
  await assert.rejects(refresh(basicClient, auth, second.refresh_token as string), isOAuthError("invalid_grant", 400));
});

test("refresh may narrow the scope but never widen it", async () => {
  const auth = basicAuth(basicClient);
  const { tokens } = await obtainTokens(basicClient, auth);
  const narrowed = await refresh(basicClient, auth, tokens.refresh_token, "profile:read");
  assert.equal(narrowed.scope, "profile:read");
  const { payload } = await verifyAccessToken(narrowed.access_token);
  assert.equal(payload.scope, "profile:read");
  assert.equal((await usersMe(narrowed.access_token, "/rest/v1/users/me/profile")).status, 200);

  // folder:read is registered on the client but was never granted to this lineage.
  await assert.rejects(
    refresh(basicClient, auth, narrowed.refresh_token as string, "profile:read folder:read"),
    isOAuthError("invalid_scope", 400),
  );
});

test("introspection through oauth4webapi reports what the JWT says", async () => {
  const auth = basicAuth(basicClient);
  const { tokens } = await obtainTokens(basicClient, auth);
  const { payload } = await verifyAccessToken(tokens.access_token);

  const access = await introspect(basicClient, auth, tokens.access_token);
  assert.equal(access.active, true);
  assert.equal(access.scope, SCOPE);
  assert.equal(access.client, basicClient.clientId);
  assert.equal(access.client_id, basicClient.clientId);
  assert.equal(access.sub, payload.sub);
  assert.equal(access.jti, payload.jti);
  assert.equal(access.exp, payload.exp);
  assert.equal(access.iat, payload.iat);
  assert.equal(access.nbf, payload.nbf);
  assert.equal(access.token_type, "Bearer");

  const refreshInfo = await introspect(basicClient, auth, tokens.refresh_token);
  assert.equal(refreshInfo.active, true);
  assert.equal(refreshInfo.token_type, undefined, "RFC 6749's token types are access tokens'");
  assert.equal(refreshInfo.sub, payload.sub);

  assert.deepEqual(await introspect(basicClient, auth, "not-a-token"), { active: false });
  // Another client learns nothing about this client's tokens.
  assert.deepEqual(await introspect(postClient, postAuth(postClient), tokens.access_token), { active: false });
  // A wrong secret is refused outright, with a Basic challenge (RFC 6749 §5.2).
  await rejectsWithChallenge(
    introspect(basicClient, oauth.ClientSecretBasic("cnvca-wrong-secret"), tokens.access_token),
    "basic",
    "invalid_client",
  );
});

test("revoking a refresh token through oauth4webapi revokes its lineage and the consent", async () => {
  const auth = basicAuth(basicClient);
  const { tokens } = await obtainTokens(basicClient, auth);
  assert.equal((await usersMe(tokens.access_token)).status, 200);

  const response = await oauth.revocationRequest(as, clientOf(basicClient), auth, tokens.refresh_token, INSECURE);
  assert.equal(await oauth.processRevocationResponse(response), undefined);

  assert.deepEqual(await introspect(basicClient, auth, tokens.access_token), { active: false });
  assert.deepEqual(await introspect(basicClient, auth, tokens.refresh_token), { active: false });
  await expectRevoked(tokens.access_token);
  await assert.rejects(refresh(basicClient, auth, tokens.refresh_token), isOAuthError("invalid_grant", 400));

  const again = await authorizeCode(basicClient);
  assert.equal(again.consentShown, true, "revoking a refresh token withdraws the user's consent");
});

test("client_secret_post: a second client runs the flow with body credentials", async () => {
  const auth = postAuth(postClient);
  const { tokens, consentShown } = await obtainTokens(postClient, auth);
  assert.equal(consentShown, true, "consent is per client");
  const { payload } = await verifyAccessToken(tokens.access_token);
  assert.equal(payload.client_id, postClient.clientId);
  assert.equal(payload.client, postClient.clientId);

  const { tokens: basicTokens } = await obtainTokens(basicClient, basicAuth(basicClient));
  const { payload: basicPayload } = await verifyAccessToken(basicTokens.access_token);
  assert.notEqual(payload.sub, basicPayload.sub, "the same user has a different sub for each client");

  const me = await usersMe(tokens.access_token);
  assert.equal((me.body.team_user as { user_id: string }).user_id, payload.sub);

  const info = await introspect(postClient, auth, tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client, postClient.clientId);

  const refreshed = await refresh(postClient, auth, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);

  const response = await oauth.revocationRequest(as, clientOf(postClient), auth, refreshed.access_token, INSECURE);
  await oauth.processRevocationResponse(response);
  assert.deepEqual(await introspect(postClient, auth, refreshed.access_token), { active: false });

  await assert.rejects(
    refresh(postClient, oauth.ClientSecretPost("cnvca-wrong-secret"), refreshed.refresh_token as string),
    isOAuthError("invalid_client", 401),
  );
});

test("keys rotate via the CLI: new tokens carry the new kid, both keys are published, old tokens verify", async () => {
  const auth = basicAuth(basicClient);
  const { tokens: before } = await obtainTokens(basicClient, auth);
  const { kid: oldKid } = await verifyAccessToken(before.access_token);

  const newKid = rotateKeysWithCli(env);
  assert.notEqual(newKid, oldKid);

  // The server re-reads its keys every KEYWARD_KEY_RELOAD (1 s) seconds.
  const deadline = Date.now() + 10_000;
  let published: string[] = [];
  while (Date.now() < deadline) {
    const jwks = (await (await fetch(endpoint("jwks_uri"))).json()) as { keys: { kid: string }[] };
    published = jwks.keys.map((k) => k.kid);
    if (published.includes(newKid)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(published.includes(newKid), `the new key is published (saw ${published.join(", ")})`);
  assert.ok(published.includes(oldKid), "the retired key stays published");

  // It signs once every instance has had a reload to publish it (1 s, and a 2 s margin); the old key meanwhile.
  let signedBy = oldKid;
  while (signedBy !== newKid) {
    assert.ok(Date.now() < deadline + 10_000, "the new key never signed");
    const { tokens: fresh } = await obtainTokens(basicClient, auth);
    signedBy = (await verifyAccessToken(fresh.access_token)).kid;
    assert.ok([oldKid, newKid].includes(signedBy), signedBy);
    if (signedBy !== newKid) await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const refreshed = await refresh(basicClient, auth, before.refresh_token);
  assert.equal(decodeProtectedHeader(refreshed.access_token).kid, newKid);
  assert.equal((await verifyAccessToken(refreshed.access_token)).kid, newKid);

  const old = await verifyAccessToken(before.access_token);
  assert.equal(old.kid, oldKid, "a token signed before the rotation still verifies");
  assert.equal((await usersMe(before.access_token)).status, 200);
});
