import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { type CliClient, createClientWithCli, createUserWithCli, pkce } from "./support/browserless.js";
import { type ServerProcess, startServerProcess, tempDatabase } from "./support/server-process.js";

/**
 * The authorization pages in a real headless Chromium against a real `keyward start`, with the
 * client's redirect URI on a small local server so the final navigation lands somewhere real.
 */

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed; skipping the browser tests`;

const CLIENT_NAME = "Acme Design Sync";
const SCOPES = ["profile:read", "design:meta:read", "asset:read"];
/** The consent page's plain words for each scope. */
const SCOPE_WORDS: Record<string, string> = {
  "profile:read": "View your display name",
  "design:meta:read": "View the titles, thumbnails and details of your designs",
  "asset:read": "View your uploaded images, videos and audio",
  "folder:read": "View your folders and what is in them",
};
const PASSWORD = "browser-password-123";
const SCREENSHOT = "/tmp/keyward-consent.png";

describe("authorization pages in headless Chromium", { skip, timeout: 60_000 }, () => {
  let server: ServerProcess;
  let callbackServer: Server;
  let callbackUri: string;
  const callbackHits: string[] = [];
  let client: CliClient;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const user = { email: "grace@example.com", password: PASSWORD };
  const otherUser = { email: "linus@example.com", password: PASSWORD };
  const verifier = pkce();

  before(async () => {
    callbackServer = createServer((request, response) => {
      // Only the redirect itself, not the browser's favicon request.
      if (request.url?.startsWith("/callback")) callbackHits.push(request.url);
      response.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    await new Promise<void>((resolve) => callbackServer.listen(0, "127.0.0.1", resolve));
    callbackUri = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;

    const env = { DATABASE_URL: tempDatabase(), KEYWARD_SECRET: "browser-test-secret-0123456789abcdefghij" };
    server = await startServerProcess(env);
    client = createClientWithCli(env, {
      name: CLIENT_NAME,
      redirectUris: [callbackUri],
      scope: [...SCOPES, "folder:read"].join(" "),
    });
    createUserWithCli(env, user);
    createUserWithCli(env, otherUser);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((resolve) => callbackServer?.close(resolve));
  });

  function authorizationUrl(scopes: readonly string[], state: string): string {
    const url = new URL("/api/oauth/authorize", server.url);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("client_id", client.clientId);
    url.searchParams.set("redirect_uri", callbackUri);
    url.searchParams.set("scope", scopes.join(" "));
    url.searchParams.set("state", state);
    url.searchParams.set("code_challenge", verifier.challenge);
    url.searchParams.set("code_challenge_method", "S256");
    return url.toString();
  }

  function callbackParams(): URLSearchParams {
    const url = new URL(page.url());
    assert.equal(`${url.origin}${url.pathname}`, callbackUri, `landed on the callback, not ${page.url()}`);
    return url.searchParams;
  }

  async function submitSignIn(target: Page, email: string, password: string) {
    await target.fill('input[name="email"]', email);
    await target.fill('input[name="password"]', password);
    const [response] = await Promise.all([
      target.waitForResponse((r) => r.request().method() === "POST" && r.url().includes("/api/oauth/authorize")),
      target.click('button[type="submit"]'),
    ]);
    await target.waitForLoadState();
    return response;
  }

  async function consentItems(target: Page): Promise<string[]> {
    return (await target.locator("ul li").allInnerTexts()).map((t) => t.trim());
  }

  test("the sign-in page renders with email and password fields and refuses framing", async () => {
    const response = await page.goto(authorizationUrl(SCOPES, "state-one"));
    assert.ok(response);
    assert.equal(response.status(), 200);
    const headers = response.headers();
    assert.equal(headers["x-frame-options"], "DENY");
    assert.match(headers["content-security-policy"] ?? "", /frame-ancestors 'none'/);
    assert.equal(await page.title(), "Sign in");
    assert.equal(await page.getAttribute('input[name="email"]', "type"), "email");
    assert.equal(await page.getAttribute('input[name="password"]', "type"), "password");
    assert.ok(await page.isVisible('input[name="email"]'));
    assert.ok(await page.isVisible('input[name="password"]'));
    assert.match((await page.textContent("main")) ?? "", new RegExp(`Sign in to continue to ${CLIENT_NAME}`));
  });

  test("a wrong password shows an error and keeps the sign-in form", async () => {
    const response = await submitSignIn(page, user.email, "not-the-password");
    assert.equal(response.status(), 401);
    assert.equal((await page.getByRole("alert").textContent())?.trim(), "Incorrect email or password.");
    assert.equal(await page.inputValue('input[name="email"]'), user.email);
    assert.ok(await page.isVisible('input[name="password"]'));
    assert.equal(
      (await context.cookies()).some((c) => c.name === "keyward_session"),
      false,
      "no session after a failed sign-in",
    );
  });

  test("signing in leads to the consent page, which names the client and each scope in plain words", async () => {
    const consentResponse = page.waitForResponse(
      (r) => r.request().method() === "GET" && r.url().includes("/api/oauth/authorize") && r.status() === 200,
    );
    const response = await submitSignIn(page, user.email, user.password);
    assert.equal(response.status(), 303);
    const consent = await consentResponse;
    assert.equal(consent.headers()["x-frame-options"], "DENY");
    assert.match(consent.headers()["content-security-policy"] ?? "", /frame-ancestors 'none'/);

    await page.waitForSelector('button[value="allow"]');
    assert.equal(await page.title(), "Authorize access");
    assert.equal((await page.textContent("h1"))?.trim(), `${CLIENT_NAME} wants to access your account`);
    assert.match((await page.textContent("main")) ?? "", new RegExp(`Signed in as ${user.email}`));
    const items = await consentItems(page);
    assert.equal(items.length, SCOPES.length);
    SCOPES.forEach((scope, i) => {
      assert.ok(items[i]?.startsWith(SCOPE_WORDS[scope] as string), `"${items[i]}" describes ${scope}`);
      assert.ok(items[i]?.includes(scope));
    });
    assert.ok(await page.isVisible('button[value="deny"]'));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  test("the session and CSRF cookies are HttpOnly and SameSite=Lax", async () => {
    const cookies = await context.cookies(server.url);
    for (const name of ["keyward_session", "keyward_csrf"]) {
      const cookie = cookies.find((c) => c.name === name);
      assert.ok(cookie, `${name} is set`);
      assert.equal(cookie.httpOnly, true, `${name} is HttpOnly`);
      assert.equal(cookie.sameSite, "Lax", `${name} is SameSite=Lax`);
      assert.equal(cookie.path, "/");
    }
    assert.equal(await page.evaluate("document.cookie"), "", "scripts cannot read them");
  });

  test("Allow redirects to the callback with a code and the state, and the code works", async () => {
    const hitsBefore = callbackHits.length;
    await Promise.all([page.waitForURL(`${callbackUri}?**`), page.click('button[value="allow"]')]);
    const params = callbackParams();
    assert.equal(params.get("state"), "state-one");
    assert.equal(params.get("iss"), server.url);
    assert.equal(params.get("error"), null);
    const code = params.get("code");
    assert.ok(code);
    assert.equal((await page.textContent("body"))?.trim(), "ok");
    assert.equal(callbackHits.length, hitsBefore + 1);

    const token = await fetch(new URL("/rest/v1/oauth/token", server.url), {
      method: "POST",
      headers: { authorization: client.basic, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: verifier.verifier,
        redirect_uri: callbackUri,
      }),
    });
    assert.equal(token.status, 200);
    const body = (await token.json()) as { scope: string; token_type: string };
    assert.equal(body.scope, SCOPES.join(" "));
    assert.equal(body.token_type, "Bearer");
  });

  test("a second authorization for the same scopes skips consent", async () => {
    const pagesShown: number[] = [];
    const onResponse = (r: { url(): string; status(): number }) => {
      if (r.url().includes("/api/oauth/authorize")) pagesShown.push(r.status());
    };
    page.on("response", onResponse);
    try {
      const response = await page.goto(authorizationUrl(SCOPES, "state-two"));
      assert.equal(response?.status(), 200);
    } finally {
      page.off("response", onResponse);
    }
    assert.deepEqual(pagesShown, [302], "the authorization page answered with a redirect, no page");
    const params = callbackParams();
    assert.equal(params.get("state"), "state-two");
    assert.ok(params.get("code"));
  });

  test("Deny on a request for a new scope redirects with error=access_denied", async () => {
    await page.goto(authorizationUrl([...SCOPES, "folder:read"], "state-three"));
    await page.waitForSelector('button[value="deny"]');
    const items = await consentItems(page);
    assert.ok(items.some((item) => item.startsWith(SCOPE_WORDS["folder:read"] as string)));
    await Promise.all([page.waitForURL(`${callbackUri}?**`), page.click('button[value="deny"]')]);
    const params = callbackParams();
    assert.equal(params.get("error"), "access_denied");
    assert.equal(params.get("state"), "state-three");
    assert.equal(params.get("iss"), server.url);
    assert.equal(params.get("code"), null);
  });

  test("another user in a fresh browser signs in, denies, and gets access_denied", async () => {
    const fresh = await browser.newContext();
    try {
      const other = await fresh.newPage();
      await other.goto(authorizationUrl(SCOPES, "state-four"));
      assert.ok(await other.isVisible('input[name="password"]'), "a fresh browser must sign in");
      await submitSignIn(other, otherUser.email, otherUser.password);
      await other.waitForSelector('button[value="deny"]');
      assert.match((await other.textContent("main")) ?? "", new RegExp(`Signed in as ${otherUser.email}`));
      await Promise.all([other.waitForURL(`${callbackUri}?**`), other.click('button[value="deny"]')]);
      const params = new URL(other.url()).searchParams;
      assert.equal(params.get("error"), "access_denied");
      assert.equal(params.get("state"), "state-four");
    } finally {
      await fresh.close();
    }
  });
  test("the home page lists the connected integration, and Disconnect makes the next authorization ask again", async () => {
    await page.goto(`${server.url}/`);
    assert.match((await page.textContent("main")) ?? "", new RegExp(`${CLIENT_NAME}, since`));
    await Promise.all([page.waitForURL(`${server.url}/`), page.click('form[action="/connections/disconnect"] button')]);
    assert.match((await page.textContent("main")) ?? "", /No integration can act on your behalf/);
    await page.goto(authorizationUrl(SCOPES, "state-five"));
    await page.waitForSelector('button[value="allow"]');
  });
});
