import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  createHarness,
  form,
  type Harness,
  pkcePair,
  REDIRECT_URI,
  type TestClient,
  type TestUser,
} from "./support/harness.js";
import {
  authorizeUrl as clientAuthorizeUrl,
  csrfOf,
  InjectBrowser,
  redirectParams as parseRedirect,
} from "./support/inject-browser.js";

let h: Harness;
let client: TestClient;
let user: TestUser;

before(async () => {
  h = await createHarness();
  client = await h.createClient({ redirectUris: [REDIRECT_URI, "https://client.example/second"] });
  user = await h.createUser();
});
after(() => h.close());

class Browser extends InjectBrowser {
  constructor(remoteAddress?: string) {
    super(h, remoteAddress);
  }
}

const authorizeUrl = (overrides: Record<string, string | undefined> = {}) =>
  clientAuthorizeUrl(client.clientId, overrides);

function signIn(browser: Browser, url: string, who: TestUser = user) {
  return browser.signIn(url, who);
}

function redirectParams(location: string | undefined) {
  assert.ok(location, "a Location header");
  return parseRedirect(location);
}

describe("requests that must not redirect", () => {
  test("unknown client: an error page", async () => {
    const res = await new Browser().get(authorizeUrl({ client_id: "OC-unknown" }));
    assert.equal(res.statusCode, 400);
    assert.match(res.headers["content-type"] as string, /text\/html/);
    assert.equal(res.headers.location, undefined);
  });

  test("unregistered redirect URIs: an error page, whatever the trick", async () => {
    for (const uri of [
      "https://evil.example/callback",
      `${REDIRECT_URI}/extra`,
      REDIRECT_URI.toUpperCase(),
      "https://user@client.example/callback",
      `${REDIRECT_URI}#frag`,
      "https://client.example/%63allback",
      `${REDIRECT_URI}?x=1`,
    ]) {
      const res = await new Browser().get(authorizeUrl({ redirect_uri: uri }));
      assert.equal(res.statusCode, 400, uri);
      assert.equal(res.headers.location, undefined, uri);
    }
  });

  test("a duplicated client_id or redirect_uri: an error page", async () => {
    const res = await new Browser().get(`${authorizeUrl()}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`);
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers.location, undefined);
  });
});

describe("requests that redirect with an error", () => {
  const cases: [string, Record<string, string | undefined>, string][] = [
    ["wrong response_type", { response_type: "token" }, "unsupported_response_type"],
    ["missing response_type", { response_type: undefined }, "invalid_request"],
    ["missing code_challenge", { code_challenge: undefined }, "invalid_request"],
    ["plain PKCE", { code_challenge_method: "plain" }, "invalid_request"],
    ["missing PKCE method", { code_challenge_method: undefined }, "invalid_request"],
    ["malformed challenge", { code_challenge: "short" }, "invalid_request"],
    ["scope the client may not ask for", { scope: "folder:write" }, "invalid_scope"],
    ["no scope", { scope: undefined }, "invalid_scope"],
  ];
  for (const [name, overrides, error] of cases) {
    test(name, async () => {
      const res = await new Browser().get(authorizeUrl(overrides));
      assert.equal(res.statusCode, 302);
      const { base, params } = redirectParams(res.headers.location as string);
      assert.equal(base, REDIRECT_URI);
      assert.equal(params.get("error"), error);
      assert.ok(params.get("error_description"));
      assert.equal(params.get("state"), "st-123");
      assert.equal(params.get("iss"), "http://keyward.test");
    });
  }

  test("an error_description that repeats the request holds only RFC 6749's characters, and is cut short", async () => {
    for (const scope of ['folder:\u0000"\\é', `x${"y".repeat(5000)}`]) {
      const res = await new Browser().get(authorizeUrl({ scope }));
      const description = redirectParams(res.headers.location as string).params.get("error_description") ?? "";
      assert.match(description, /^Scopes not allowed for this client: /);
      assert.match(description, /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,200}$/);
    }
  });

  test("lower-case s256 is accepted", async () => {
    const res = await new Browser().get(authorizeUrl({ code_challenge_method: "s256" }));
    assert.equal(res.statusCode, 200);
  });
});

describe("sign-in and consent", () => {
  test("the sign-in page: fields, CSRF token, cookies and headers", async () => {
    const browser = new Browser();
    const res = await browser.get(authorizeUrl());
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /name="email"/);
    assert.match(res.body, /name="password"/);
    assert.match(res.body, /Test Integration/);
    assert.ok(csrfOf(res.body).length > 20);
    assert.equal(res.headers["x-frame-options"], "DENY");
    assert.match(res.headers["content-security-policy"] as string, /frame-ancestors 'none'/);
    assert.equal(res.headers["referrer-policy"], "no-referrer");
    const cookie = String(res.headers["set-cookie"]);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.doesNotMatch(cookie, /Secure/);
  });

  test("a sign-in without the CSRF token is refused", async () => {
    const browser = new Browser();
    const url = authorizeUrl();
    await browser.get(url);
    const res = await browser.post(url, { action: "sign_in", email: user.email, password: user.password });
    assert.equal(res.statusCode, 403);
    const forged = await browser.post(url, {
      csrf_token: "forged",
      action: "sign_in",
      email: user.email,
      password: user.password,
    });
    assert.equal(forged.statusCode, 403);
    assert.equal(browser.cookies.get("keyward_session"), undefined);
  });

  test("after sign-in, back to the request by its path, even when the request target named a host", async () => {
    const browser = new Browser();
    const url = authorizeUrl();
    const page = await browser.get(url);
    const body = form({ csrf_token: csrfOf(page.body), action: "sign_in", email: user.email, password: user.password });
    const address = await h.app.listen({ port: 0, host: "127.0.0.1" });
    // An absolute-form target (RFC 9112 §3.2.2), which Node and Fastify pass on as the request's URL.
    const head = await rawRequest(
      address,
      `POST http://evil.example${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${browser.header()}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
    assert.match(head, /^HTTP\/1\.1 303 /);
    assert.equal(/\r\nlocation: ([^\r]*)/i.exec(head)?.[1], url);
  });

  test("a wrong password shows the form again with an error", async () => {
    const res = await signIn(new Browser(), authorizeUrl(), { ...user, password: "wrong password" });
    assert.equal(res.statusCode, 401);
    assert.match(res.body, /Incorrect email or password/);
  });

  test("the sign-in limits count an account under a keyed name, never its email", async () => {
    const limiter = h.runtime.rateLimiter;
    const { check, consume } = limiter;
    const keys: string[] = [];
    limiter.check = (key, limit, windowMs) => {
      keys.push(key);
      return check.call(limiter, key, limit, windowMs);
    };
    limiter.consume = (key, limit, windowMs) => {
      keys.push(key);
      return consume.call(limiter, key, limit, windowMs);
    };
    const someone = await h.createUser();
    try {
      const res = await signIn(new Browser(), authorizeUrl(), { ...someone, password: "wrong password" });
      assert.equal(res.statusCode, 401);
    } finally {
      limiter.check = check;
      limiter.consume = consume;
    }
    const name = h.runtime.core.keys.limiterName(someone.email);
    assert.ok(keys.includes(`signin:account:${name}`), JSON.stringify(keys));
    const local = someone.email.split("@")[0] as string;
    assert.ok(!keys.some((key) => key.includes(local)), JSON.stringify(keys));
  });

  test("consent lists each scope in plain words; allow redirects with a code", async () => {
    const browser = new Browser();
    const url = authorizeUrl();
    const signedIn = await signIn(browser, url);
    assert.equal(signedIn.statusCode, 303);
    const session = String(signedIn.headers["set-cookie"]);
    assert.match(session, /keyward_session=.*HttpOnly.*SameSite=Lax/);
    const names = [signedIn.headers["set-cookie"] ?? []].flat().map((line) => line.split("=")[0]);
    assert.deepEqual(names.sort(), ["keyward_csrf", "keyward_device", "keyward_session"], "each cookie set once");
    const consent = await browser.get(url);
    assert.equal(consent.statusCode, 200);
    assert.match(consent.body, /View your display name/);
    assert.match(consent.body, /View the titles, thumbnails and details of your designs/);
    assert.match(consent.body, /name="decision" value="allow"/);
    assert.match(consent.body, /name="decision" value="deny"/);
    const res = await browser.post(url, { csrf_token: csrfOf(consent.body), action: "consent", decision: "allow" });
    assert.equal(res.statusCode, 303);
    const { base, params } = redirectParams(res.headers.location as string);
    assert.equal(base, REDIRECT_URI);
    assert.match(params.get("code") ?? "", /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    assert.equal(params.get("state"), "st-123");
    assert.equal(params.get("iss"), "http://keyward.test");

    // HEAD is a safe method (a link checker's, a prefetcher's): it issues no code, even under consent.
    const head = await h.app.inject({ method: "HEAD", url: authorizeUrl(), headers: { cookie: browser.header() } });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers.location, undefined);
    assert.match(String(head.headers["content-type"]), /text\/html/);

    // Already consented: straight back with a code.
    const again = await browser.get(authorizeUrl());
    assert.equal(again.statusCode, 302);
    assert.ok(redirectParams(again.headers.location as string).params.get("code"));

    // More scopes than consented: asked again.
    const wider = await browser.get(authorizeUrl({ scope: "profile:read asset:read" }));
    assert.equal(wider.statusCode, 200);
    assert.match(wider.body, /View your uploaded images/);
  });

  test("deny redirects with access_denied", async () => {
    const other = await h.createUser();
    const browser = new Browser();
    const url = authorizeUrl();
    await signIn(browser, url, other);
    const consent = await browser.get(url);
    const res = await browser.post(url, { csrf_token: csrfOf(consent.body), action: "consent", decision: "deny" });
    const { params } = redirectParams(res.headers.location as string);
    assert.equal(params.get("error"), "access_denied");
    assert.equal(params.get("state"), "st-123");
    assert.equal(params.get("code"), null);
  });

  test("a consent token from another request or session is refused", async () => {
    const other = await h.createUser();
    const browser = new Browser();
    const url = authorizeUrl();
    await signIn(browser, url, other);
    const consent = await browser.get(url);
    const token = csrfOf(consent.body);
    const differentRequest = authorizeUrl({ scope: "profile:read" });
    const res = await browser.post(differentRequest, { csrf_token: token, action: "consent", decision: "allow" });
    assert.equal(res.statusCode, 403);
    const attacker = new Browser();
    await signIn(attacker, url, other);
    const stolen = await attacker.post(url, { csrf_token: token, action: "consent", decision: "allow" });
    assert.equal(stolen.statusCode, 403);
  });

  test("a Cal.com glob registered for the client is neither matched literally nor a default", async () => {
    const globbed = await h.createClient({ redirectUris: ["https://*.client.example/*", REDIRECT_URI] });
    const url = (redirect_uri: string | undefined) => clientAuthorizeUrl(globbed.clientId, { redirect_uri });
    const literal = await new Browser().get(url("https://*.client.example/*"));
    assert.equal(literal.statusCode, 400);
    assert.equal(literal.headers.location, undefined);
    const matching = await new Browser().get(url("https://a.client.example/x"));
    assert.equal(matching.statusCode, 400, "globs match in the Cal.com dialect only");
    const browser = new Browser();
    const unnamed = url(undefined);
    await signIn(browser, unnamed, await h.createUser());
    const consent = await browser.get(unnamed);
    const res = await browser.post(unnamed, {
      csrf_token: csrfOf(consent.body),
      action: "consent",
      decision: "allow",
    });
    assert.equal(redirectParams(res.headers.location as string).base, REDIRECT_URI, "the first URI that is not a glob");
    const onlyGlobs = await h.createClient({ redirectUris: ["https://*.client.example/*"] });
    const none = await new Browser().get(clientAuthorizeUrl(onlyGlobs.clientId, { redirect_uri: undefined }));
    assert.equal(none.statusCode, 400);
    assert.equal(none.headers.location, undefined);
  });

  test("the redirect_uri defaults to the first registered one", async () => {
    const browser = new Browser();
    const url = authorizeUrl({ redirect_uri: undefined });
    await signIn(browser, url, await h.createUser());
    const consent = await browser.get(url);
    const res = await browser.post(url, { csrf_token: csrfOf(consent.body), action: "consent", decision: "allow" });
    assert.equal(redirectParams(res.headers.location as string).base, REDIRECT_URI);
  });

  test("repeated failed sign-ins are slowed down", async () => {
    const victim = await h.createUser();
    const browser = new Browser();
    const url = authorizeUrl();
    for (let i = 0; i < 5; i++) {
      const res = await signIn(browser, url, { ...victim, password: `wrong-${i}` });
      assert.equal(res.statusCode, 401);
    }
    const blocked = await signIn(browser, url, victim);
    assert.equal(blocked.statusCode, 429);
    assert.ok(Number(blocked.headers["retry-after"]) >= 1);
    assert.match(blocked.body, /Too many failed sign-in attempts/);
    assert.equal(browser.cookies.get("keyward_session"), undefined);
  });

  test("a browser that signed in before still can while strangers guess the account's password", async () => {
    const victim = await h.createUser();
    // Each browser from an address of its own: this is the account's limit, not an address's.
    const own = new Browser("192.0.2.1");
    assert.equal((await signIn(own, authorizeUrl(), victim)).statusCode, 303);
    assert.ok(own.cookies.get("keyward_device"), "a trusted-device cookie");
    own.cookies.delete("keyward_session");
    // The attacker signs in to an account of their own: their cookie vouches for it, not the victim's.
    const attacker = new Browser("192.0.2.2");
    assert.equal((await signIn(attacker, authorizeUrl(), await h.createUser())).statusCode, 303);
    attacker.cookies.delete("keyward_session");
    for (let i = 0; i < 5; i++) {
      assert.equal((await signIn(attacker, authorizeUrl(), { ...victim, password: `wrong-${i}` })).statusCode, 401);
    }
    assert.equal((await signIn(attacker, authorizeUrl(), victim)).statusCode, 429, "the attacker is locked out");
    assert.equal((await signIn(new Browser("192.0.2.3"), authorizeUrl(), victim)).statusCode, 429, "a new browser too");
    const forged = new Browser("192.0.2.4");
    forged.cookies.set("keyward_device", `${"A".repeat(16)}${"B".repeat(16)}`);
    assert.equal((await signIn(forged, authorizeUrl(), victim)).statusCode, 429, "so is a forged cookie");
    assert.equal((await signIn(own, authorizeUrl(), victim)).statusCode, 303, "the owner's browser is not");
    // The trusted browser's own failures are limited all the same.
    own.cookies.delete("keyward_session");
    for (let i = 0; i < 5; i++) {
      assert.equal((await signIn(own, authorizeUrl(), { ...victim, password: `typo-${i}` })).statusCode, 401);
    }
    assert.equal((await signIn(own, authorizeUrl(), victim)).statusCode, 429);
  });

  test("guesses sent in parallel get no more tries than guesses sent one by one", async () => {
    const victim = await h.createUser();
    const browser = new Browser();
    const url = authorizeUrl();
    const page = await browser.get(url);
    const guess = (password: string) =>
      browser.post(url, { csrf_token: csrfOf(page.body), action: "sign_in", email: victim.email, password });
    const statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => guess(`wrong-${i}`)))).map(
      (res) => res.statusCode,
    );
    assert.equal(statuses.filter((status) => status === 401).length, 5, String(statuses));
    assert.equal(statuses.filter((status) => status === 429).length, 15, String(statuses));
    assert.equal((await guess(victim.password)).statusCode, 429);
  });

  test("a successful sign-in does not count against the account", async () => {
    const regular = await h.createUser();
    for (let i = 0; i < 7; i++) {
      const res = await signIn(new Browser(), authorizeUrl(), regular);
      assert.equal(res.statusCode, 303, `sign-in ${i + 1}`);
    }
  });
});

describe("Secure cookies behind https", () => {
  test("an https issuer marks cookies Secure", async () => {
    const secure = await createHarness({ KEYWARD_ISSUER: "https://auth.example" });
    try {
      const c = await secure.createClient();
      const { challenge } = pkcePair();
      const res = await secure.app.inject({
        method: "GET",
        url: `/api/oauth/authorize?response_type=code&client_id=${c.clientId}&scope=profile:read&code_challenge=${challenge}&code_challenge_method=S256`,
      });
      assert.match(String(res.headers["set-cookie"]), /; Secure/);
    } finally {
      await secure.close();
    }
  });

  test("an https issuer's cookies carry the __Host- prefix, and unprefixed ones count for nothing", async () => {
    const secure = await createHarness({ KEYWARD_ISSUER: "https://auth.example" });
    try {
      const who = await secure.createUser();
      const browser = new InjectBrowser(secure);
      assert.equal((await browser.signIn("/login", who)).statusCode, 303);
      assert.deepEqual([...browser.cookies.keys()].sort(), [
        "__Host-keyward_csrf",
        "__Host-keyward_device",
        "__Host-keyward_session",
      ]);
      assert.match((await browser.get("/")).body, /Sign out/);
      // A cookie without the prefix may come from a sibling subdomain or plain http: it signs no one in.
      const planted = new InjectBrowser(secure);
      planted.cookies.set("keyward_session", browser.cookies.get("__Host-keyward_session") ?? "");
      assert.doesNotMatch((await planted.get("/")).body, /Sign out/);
      const page = await planted.get("/login");
      assert.match(
        String(page.headers["set-cookie"]),
        /^__Host-keyward_csrf=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
      );
      assert.equal(
        (await planted.post("/login", { csrf_token: "x", email: who.email, password: who.password })).statusCode,
        403,
      );
    } finally {
      await secure.close();
    }
  });
});

describe("pages refuse what is not a form, in HTML", () => {
  const notForms = [
    { "content-type": "application/json", payload: '{"action":"consent","decision":"allow"}' },
    { "content-type": "application/json", payload: '{"action":' },
    { "content-type": "application/json", payload: "" },
    { "content-type": "text/plain", payload: "action=consent&decision=allow" },
  ];

  for (const { payload, ...headers } of notForms) {
    test(`${headers["content-type"]} ${JSON.stringify(payload.slice(0, 10))} posted to the authorize page, /login and /logout: 415`, async () => {
      for (const url of [authorizeUrl(), "/login", "/logout"]) {
        const res = await h.app.inject({ method: "POST", url, headers, payload });
        assert.equal(res.statusCode, 415, `${url}: ${res.body}`);
        assert.match(String(res.headers["content-type"]), /^text\/html/);
        assert.match(res.body, /not sent as a form/);
      }
    });
  }

  test("after /login, only a printable same-site return_to is followed", async () => {
    const cases: [string, string][] = [
      ["/account?tab=1", "/account?tab=1"],
      ["/%0D%0Aset-cookie:%20x=1", "/"],
      ["/%09/evil.example/phish", "/"],
      ["/%09%5Cevil.example/", "/"],
      ["//evil.example/", "/"],
      ["/%5Cevil.example/", "/"],
      ["/%E2%98%83", "/"],
      ["https://evil.example/", "/"],
    ];
    for (const [returnTo, expected] of cases) {
      const browser = new Browser();
      const url = `/login?return_to=${returnTo}`;
      const page = await browser.get(url);
      const res = await browser.post(url, {
        csrf_token: csrfOf(page.body),
        email: user.email,
        password: user.password,
      });
      assert.equal(res.statusCode, 303, returnTo);
      assert.equal(res.headers.location, expected, returnTo);
    }
  });

  test("a repeated return_to on /login falls back to the home page", async () => {
    const res = await h.app.inject({ method: "GET", url: "/login?return_to=/a&return_to=/b" });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /action="\/login\?return_to=%2F"/);
  });
});

/** Sends `request` as bytes to the server at `address` and returns the answer's head. */
function rawRequest(address: string, request: string): Promise<string> {
  const { hostname, port } = new URL(address);
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = connect(Number(port), hostname, () => socket.end(request));
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text.slice(0, text.indexOf("\r\n\r\n") + 2)));
  });
}
