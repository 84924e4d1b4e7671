import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeJwt } from "jose";
import { authorize as calAuthorize, codeFrom, sessionCookie } from "./support/cal-flow.js";
import {
  createHarness,
  FORM,
  form,
  type Harness,
  pkcePair,
  REDIRECT_URI,
  type TestClient,
  type TestUser,
} from "./support/harness.js";
import { authorizeUrl, csrfOf, InjectBrowser, redirectParams } from "./support/inject-browser.js";

/**
 * One test per applicable item of RFC 9700 (OAuth 2.0 Security Best Current Practice), named
 * after the section it covers, each attacking a running keyward in-process.
 */
let h: Harness;
let client: TestClient;
let user: TestUser;

before(async () => {
  h = await createHarness();
  client = await h.createClient();
  user = await h.createUser();
});
after(() => h.close());

function token(body: Record<string, string>, as: TestClient = client) {
  return h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/token",
    headers: { ...FORM, authorization: as.basic },
    payload: form(body),
  });
}

async function introspect(value: string) {
  const res = await h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/introspect",
    headers: { ...FORM, authorization: client.basic },
    payload: form({ token: value }),
  });
  return res.json().active as boolean;
}

/** Runs the pages for a fresh user and returns the code and verifier the client would hold. */
async function codeThroughPages(overrides: Record<string, string> = {}) {
  const { verifier, challenge } = pkcePair();
  const url = authorizeUrl(client.clientId, { code_challenge: challenge, ...overrides });
  const res = await new InjectBrowser(h).authorize(url, await h.createUser());
  const { params } = redirectParams(res.headers.location);
  return { code: params.get("code") ?? "", verifier, iss: params.get("iss") };
}

describe("RFC 9700 §2.1 and §4.1: insufficient redirect URI validation", () => {
  const tricks = [
    ["extra path", `${REDIRECT_URI}/../evil`],
    ["extra path segment", `${REDIRECT_URI}/evil`],
    ["case change in the host", REDIRECT_URI.replace("client.example", "CLIENT.example")],
    ["case change in the path", REDIRECT_URI.replace("callback", "Callback")],
    ["userinfo", REDIRECT_URI.replace("https://", "https://client.example@")],
    [
      "attacker host as userinfo",
      REDIRECT_URI.replace("https://client.example", "https://client.example:x@evil.example"),
    ],
    ["fragment", `${REDIRECT_URI}#x`],
    ["encoded character", REDIRECT_URI.replace("callback", "c%61llback")],
    ["encoded slash", REDIRECT_URI.replace("/callback", "%2Fcallback")],
    ["query added", `${REDIRECT_URI}?next=https://evil.example`],
    ["port added", REDIRECT_URI.replace("client.example", "client.example:8443")],
    ["suffix domain", REDIRECT_URI.replace("client.example", "client.example.evil.example")],
    ["scheme downgrade", REDIRECT_URI.replace("https:", "http:")],
    ["trailing dot host", REDIRECT_URI.replace("client.example", "client.example.")],
  ];
  for (const [name, uri] of tricks) {
    test(`${name}: refused without redirecting`, async () => {
      const res = await new InjectBrowser(h).get(authorizeUrl(client.clientId, { redirect_uri: uri }));
      assert.equal(res.statusCode, 400);
      assert.equal(res.headers.location, undefined);
    });
  }
});

describe("RFC 9700 §2.1.1 and §4.8: PKCE", () => {
  test("§2.1.1: a request without a code_challenge gets no code", async () => {
    const res = await new InjectBrowser(h).get(authorizeUrl(client.clientId, { code_challenge: undefined }));
    assert.equal(redirectParams(res.headers.location).params.get("error"), "invalid_request");
  });

  test("§4.8 PKCE downgrade: the plain method is refused", async () => {
    const res = await new InjectBrowser(h).get(authorizeUrl(client.clientId, { code_challenge_method: "plain" }));
    assert.equal(redirectParams(res.headers.location).params.get("error"), "invalid_request");
  });

  test("§4.8 PKCE downgrade: a code issued without a challenge refuses a code_verifier", async () => {
    const { code } = await h.issueCode(client, user, { withPkce: false });
    const res = await token({
      grant_type: "authorization_code",
      code,
      code_verifier: "a".repeat(43),
      redirect_uri: REDIRECT_URI,
    });
    assert.equal(res.json().code, "invalid_grant");
  });
});

describe("RFC 9700 §4.5: authorization code injection", () => {
  test("a code injected into another session fails without the victim's verifier", async () => {
    const stolen = await codeThroughPages();
    const attackerVerifier = pkcePair().verifier;
    const res = await token({
      grant_type: "authorization_code",
      code: stolen.code,
      code_verifier: attackerVerifier,
      redirect_uri: REDIRECT_URI,
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "invalid_grant");
  });

  test("a code is bound to the client it was issued to", async () => {
    const stolen = await codeThroughPages();
    const attacker = await h.createClient();
    const res = await token(
      {
        grant_type: "authorization_code",
        code: stolen.code,
        code_verifier: stolen.verifier,
        redirect_uri: REDIRECT_URI,
      },
      attacker,
    );
    assert.equal(res.json().code, "invalid_grant");
  });
});

describe("RFC 9700 §4.4: mix-up attacks", () => {
  test("the authorization response names the issuer (RFC 9207) and metadata says so", async () => {
    const { iss } = await codeThroughPages();
    assert.equal(iss, "http://keyward.test");
    const metadata = (await h.app.inject({ method: "GET", url: "/.well-known/oauth-authorization-server" })).json();
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
  });

  test("error responses name the issuer too", async () => {
    const res = await new InjectBrowser(h).get(authorizeUrl(client.clientId, { scope: "folder:write" }));
    assert.equal(redirectParams(res.headers.location).params.get("iss"), "http://keyward.test");
  });
});

describe("RFC 9700 §4.5.3 and §4.14: replay", () => {
  test("§4.5.3: a replayed code is refused and the tokens it produced are revoked", async () => {
    const { code, verifier } = await codeThroughPages();
    const params = { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI };
    const first = (await token(params)).json();
    assert.equal((await token(params)).json().code, "invalid_grant");
    assert.equal(await introspect(first.access_token), false);
  });

  test("§4.14.2: a replayed refresh token revokes the lineage, for the attacker and the client alike", async () => {
    const { code, verifier } = await codeThroughPages();
    const issued = (
      await token({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI })
    ).json();
    const legit = (await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token })).json();
    const replay = await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token });
    assert.equal(replay.json().code, "invalid_grant");
    assert.equal(await introspect(legit.access_token), false);
    assert.equal(
      (await token({ grant_type: "refresh_token", refresh_token: legit.refresh_token })).json().code,
      "invalid_grant",
    );
  });

  test("§4.14: refresh tokens are bound to the client", async () => {
    const { code, verifier } = await codeThroughPages();
    const issued = (
      await token({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI })
    ).json();
    const attacker = await h.createClient();
    assert.equal(
      (await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token }, attacker)).json().code,
      "invalid_grant",
    );
  });
});

describe("RFC 9700 §4.7: cross-site request forgery", () => {
  test("the consent form refuses a post without the session-bound CSRF token", async () => {
    const victim = new InjectBrowser(h);
    const url = authorizeUrl(client.clientId);
    await victim.signIn(url, await h.createUser());
    const forged = await victim.post(url, { action: "consent", decision: "allow" }, { origin: "https://evil.example" });
    assert.equal(forged.statusCode, 403);
    assert.equal(forged.headers.location, undefined);
  });

  test("state is returned unchanged so the client can bind the response to its session", async () => {
    const res = await new InjectBrowser(h).authorize(
      authorizeUrl(client.clientId, { state: "opaque-Ω-value" }),
      await h.createUser(),
    );
    assert.equal(redirectParams(res.headers.location).params.get("state"), "opaque-Ω-value");
  });

  test("the Cal.com authorize endpoint refuses a cross-site POST", async () => {
    const cookie = await sessionCookie(h, user);
    const res = await calAuthorize(h, client.clientId, { cookie, headers: { origin: "https://evil.example" } });
    assert.equal(res.statusCode, 403);
    const formPost = await h.app.inject({
      method: "POST",
      url: `/v2/oauth/${client.clientId}/authorize`,
      headers: { ...FORM, cookie },
      payload: form({ redirectUri: REDIRECT_URI }),
    });
    assert.ok(formPost.statusCode >= 400 && formPost.statusCode < 500);
    assert.equal(formPost.headers.location, undefined);
  });
});

describe("RFC 9700 §4.2: credential leakage via Referer headers", () => {
  test("pages and authorization redirects send no referrer", async () => {
    const page = await new InjectBrowser(h).get(authorizeUrl(client.clientId));
    assert.equal(page.headers["referrer-policy"], "no-referrer");
    const redirect = await new InjectBrowser(h).authorize(authorizeUrl(client.clientId), await h.createUser());
    assert.equal(redirect.headers["referrer-policy"], "no-referrer");
    const cal = await calAuthorize(h, client.clientId, { cookie: await sessionCookie(h, await h.createUser()) });
    codeFrom(cal);
    assert.equal(cal.headers["referrer-policy"], "no-referrer");
  });
});

describe("RFC 9700 §4.11.2: the authorization server as open redirector", () => {
  test("the sign-in page only returns to paths on this site", async () => {
    for (const target of ["https://evil.example/", "//evil.example/", "/\\evil.example"]) {
      const browser = new InjectBrowser(h);
      const page = await browser.get(`/login?return_to=${encodeURIComponent(target)}`);
      const who = await h.createUser();
      const res = await browser.post(`/login?return_to=${encodeURIComponent(target)}`, {
        csrf_token: csrfOf(page.body),
        email: who.email,
        password: who.password,
      });
      assert.equal(res.headers.location, "/", target);
    }
  });

  test("an unknown client never causes a redirect", async () => {
    const res = await new InjectBrowser(h).get(authorizeUrl("OC-unknown", { redirect_uri: "https://evil.example/" }));
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers.location, undefined);
  });
});

describe("RFC 9700 §4.12: 307 redirect", () => {
  test("answers to posted forms redirect with 303, so credentials are never re-posted", async () => {
    const browser = new InjectBrowser(h);
    const url = authorizeUrl(client.clientId);
    const signIn = await browser.signIn(url, await h.createUser());
    assert.equal(signIn.statusCode, 303);
    const page = await browser.get(url);
    const consent = await browser.post(url, { csrf_token: csrfOf(page.body), action: "consent", decision: "allow" });
    assert.equal(consent.statusCode, 303);
  });
});

describe("RFC 9700 §4.16: clickjacking", () => {
  test("every page forbids framing", async () => {
    for (const path of ["/login", authorizeUrl(client.clientId), authorizeUrl("OC-unknown"), "/"]) {
      const res = await new InjectBrowser(h).get(path);
      assert.equal(res.headers["x-frame-options"], "DENY", path);
      assert.match(String(res.headers["content-security-policy"]), /frame-ancestors 'none'/, path);
    }
  });
});

describe("RFC 9700 §2.1.2 and §2.4: deprecated grants", () => {
  test("§2.1.2: the implicit grant is not offered", async () => {
    const res = await new InjectBrowser(h).get(authorizeUrl(client.clientId, { response_type: "token" }));
    assert.equal(redirectParams(res.headers.location).params.get("error"), "unsupported_response_type");
  });

  test("§2.4: the resource owner password grant is not offered", async () => {
    const res = await token({ grant_type: "password", username: user.email, password: user.password });
    assert.equal(res.json().code, "unsupported_grant_type");
  });
});

describe("RFC 9700 §2.3 and §4.10: access token privilege restriction", () => {
  test("a token narrowed on refresh cannot reach what its scope leaves out", async () => {
    const { code, verifier } = await codeThroughPages();
    const issued = (
      await token({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI })
    ).json();
    const narrow = (
      await token({ grant_type: "refresh_token", refresh_token: issued.refresh_token, scope: "design:meta:read" })
    ).json();
    const res = await h.app.inject({
      method: "GET",
      url: "/rest/v1/users/me/profile",
      headers: { authorization: `Bearer ${narrow.access_token}` },
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().code, "missing_scope");
  });
});

describe("RFC 9700 §4.15: client impersonating a resource owner", () => {
  test("subjects are pairwise user ids that can never equal a client id", async () => {
    const { code, verifier } = await codeThroughPages();
    const issued = (
      await token({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI })
    ).json();
    const sub = decodeJwt(issued.access_token).sub ?? "";
    assert.doesNotMatch(sub, /^OC-/);
    assert.notEqual(sub, client.clientId);
  });
});

describe("RFC 9700 §2.5: client authentication", () => {
  test("secrets are compared as keyed hashes; a secret that differs in one character fails", async () => {
    const near = client.clientSecret.slice(0, -1) + (client.clientSecret.endsWith("A") ? "B" : "A");
    const basic = `Basic ${Buffer.from(`${client.clientId}:${near}`).toString("base64")}`;
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: { ...FORM, authorization: basic },
      payload: form({ grant_type: "refresh_token", refresh_token: "x" }),
    });
    assert.equal(res.statusCode, 401);
  });
});
