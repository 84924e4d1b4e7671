import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createHarness, type Harness, type TestClient, type TestUser } from "./support/harness.js";
import { authorizeUrl, InjectBrowser } from "./support/inject-browser.js";

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

/** The page's disconnect form for `clientId`: its CSRF token. */
function disconnectToken(html: string, clientId: string): string {
  const forms = html.split('<form method="post" action="/connections/disconnect">').slice(1);
  const mine = forms.find((f) => f.includes(`name="client_id" value="${clientId}"`));
  return /name="csrf_token" value="([^"]+)"/.exec(mine ?? "")?.[1] ?? "";
}

async function connect(client: TestClient, user: TestUser) {
  const res = await h.exchangeCode(client, user, { scope: "profile:read" });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { access_token: string; refresh_token: string };
}

test("the home page lists the user's integrations, and one disconnected stops working at once", async () => {
  const [kept, dropped] = [
    await h.createClient({ name: "Kept <Designs>" }),
    await h.createClient({ name: "Dropped & Co" }),
  ];
  const user = await h.createUser();
  const keptTokens = await connect(kept, user);
  const droppedTokens = await connect(dropped, user);
  const browser = new InjectBrowser(h);
  await browser.signIn("/login", user);

  const home = await browser.get("/");
  assert.equal(home.statusCode, 200);
  assert.match(home.body, /Kept &lt;Designs&gt;/);
  assert.match(home.body, /Dropped &amp; Co/);
  assert.match(home.body, /View your display name/);

  const res = await browser.post("/connections/disconnect", {
    csrf_token: disconnectToken(home.body, dropped.clientId),
    client_id: dropped.clientId,
  });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, "/");

  assert.equal((await h.profile(droppedTokens.access_token)).statusCode, 401);
  assert.equal((await h.refresh(dropped, droppedTokens.refresh_token)).json().error, "invalid_grant");
  assert.equal(await h.runtime.core.store.getConsent(dropped.clientId, user.userId), undefined);
  assert.equal((await h.profile(keptTokens.access_token)).statusCode, 200);
  assert.equal((await h.refresh(kept, keptTokens.refresh_token)).statusCode, 200);

  const after = await browser.get("/");
  assert.doesNotMatch(after.body, /Dropped &amp; Co/);
  assert.match(after.body, /Kept &lt;Designs&gt;/);
  // The integration must ask again: the authorization page shows consent instead of redirecting.
  const again = await browser.get(authorizeUrl(dropped.clientId, { scope: "profile:read" }));
  assert.equal(again.statusCode, 200);
  assert.match(again.body, /wants to access your account/);
});

test("a disconnect without this browser's CSRF token is refused and changes nothing", async () => {
  const client = await h.createClient();
  const user = await h.createUser();
  const tokens = await connect(client, user);
  const browser = new InjectBrowser(h);
  await browser.signIn("/login", user);
  const home = await browser.get("/");
  const token = disconnectToken(home.body, client.clientId);
  assert.ok(token);

  const missing = await browser.post("/connections/disconnect", { client_id: client.clientId });
  assert.equal(missing.statusCode, 403);
  const elsewhere = new InjectBrowser(h);
  await elsewhere.signIn("/login", user);
  const lifted = await elsewhere.post("/connections/disconnect", { csrf_token: token, client_id: client.clientId });
  assert.equal(lifted.statusCode, 403, "a token from another browser is worthless");
  assert.equal((await h.profile(tokens.access_token)).statusCode, 200);
});

test("disconnect and sign-out tokens are the session's: one minted for another session is refused, same cookie or not", async () => {
  const client = await h.createClient();
  const victim = await h.createUser();
  const tokens = await connect(client, victim);
  // The attacker signs in, reads their own tokens, and plants their binding cookie in the victim's browser.
  const attackerUser = await h.createUser();
  await connect(client, attackerUser);
  const attacker = new InjectBrowser(h);
  await attacker.signIn("/login", attackerUser);
  const attackerHome = (await attacker.get("/")).body;
  const signOutToken = /action="\/logout"><input type="hidden" name="csrf_token" value="([^"]+)"/.exec(
    attackerHome,
  )?.[1];
  assert.ok(signOutToken);
  const browser = new InjectBrowser(h);
  await browser.signIn("/login", victim);
  browser.cookies.set("keyward_csrf", attacker.cookies.get("keyward_csrf") ?? "");

  assert.ok(disconnectToken(attackerHome, client.clientId));
  const forged = await browser.post("/connections/disconnect", {
    csrf_token: disconnectToken(attackerHome, client.clientId),
    client_id: client.clientId,
  });
  assert.equal(forged.statusCode, 403);
  assert.equal((await h.profile(tokens.access_token)).statusCode, 200, "still connected");
  assert.equal((await browser.post("/logout", { csrf_token: signOutToken })).statusCode, 403);
  assert.match((await browser.get("/")).body, /Sign out/, "still signed in");
});

test("signing in gives the browser a new CSRF binding", async () => {
  const browser = new InjectBrowser(h);
  await browser.get("/login");
  const before = browser.cookies.get("keyward_csrf");
  assert.ok(before);
  const res = await browser.signIn("/login", await h.createUser());
  assert.equal(res.statusCode, 303);
  const after = browser.cookies.get("keyward_csrf");
  assert.ok(after && after !== before, "a new binding");
});

test("signed out, a disconnect goes to the sign-in page; with no integration named, an error page", async () => {
  const user = await h.createUser();
  const browser = new InjectBrowser(h);
  await browser.signIn("/login", user);
  const home = await browser.get("/");
  assert.match(home.body, /No integration can act on your behalf/);
  const token = /action="\/logout"><input type="hidden" name="csrf_token" value="([^"]+)"/.exec(home.body)?.[1] ?? "";
  const csrf = /name="csrf_token" value="([^"]+)"/.exec((await browser.get("/")).body)?.[1] ?? "";
  assert.equal(csrf, token, "with no integration, the only form is sign-out's");

  const client = await h.createClient();
  await connect(client, user);
  const disconnectCsrf = disconnectToken((await browser.get("/")).body, client.clientId);
  const nothing = await browser.post("/connections/disconnect", { csrf_token: disconnectCsrf });
  assert.equal(nothing.statusCode, 400);

  await browser.post("/logout", { csrf_token: token });
  const signedOut = await browser.post("/connections/disconnect", {
    csrf_token: disconnectCsrf,
    client_id: client.clientId,
  });
  assert.equal(signedOut.statusCode, 303);
  assert.equal(signedOut.headers.location, "/login?return_to=%2F");
});

test("forms posted from another site are refused before they are read, and change no cookie", async () => {
  const client = await h.createClient();
  const user = await h.createUser();
  const tokens = await connect(client, user);
  const browser = new InjectBrowser(h);
  await browser.signIn("/login", user);
  const home = (await browser.get("/")).body;
  const signOut = /action="\/logout"><input type="hidden" name="csrf_token" value="([^"]+)"/.exec(home)?.[1] ?? "";
  const cookies = new Map(browser.cookies);
  for (const site of ["cross-site", "same-site"]) {
    const elsewhere = { "sec-fetch-site": site };
    const posts = [
      browser.post("/logout", { csrf_token: signOut }, elsewhere),
      browser.post(
        "/connections/disconnect",
        { csrf_token: disconnectToken(home, client.clientId), client_id: client.clientId },
        elsewhere,
      ),
      browser.post("/login", { csrf_token: "x", email: user.email, password: user.password }, elsewhere),
      browser.post(authorizeUrl(client.clientId), { action: "consent", decision: "allow" }, elsewhere),
    ];
    for (const res of await Promise.all(posts)) {
      assert.equal(res.statusCode, 403, site);
      assert.match(res.body, /This form came from another site/);
      assert.equal(res.headers["set-cookie"], undefined);
    }
  }
  assert.deepEqual(browser.cookies, cookies);
  assert.equal((await h.profile(tokens.access_token)).statusCode, 200, "still connected");
  assert.match((await browser.get("/")).body, /Sign out/, "still signed in");
  // The browser's own pages post same-origin.
  const own = await browser.post("/logout", { csrf_token: signOut }, { "sec-fetch-site": "same-origin" });
  assert.equal(own.statusCode, 303);
});

test("an authorization post without the browser's binding cookie sets none: it is sent to the page's GET", async () => {
  const client = await h.createClient();
  const url = authorizeUrl(client.clientId);
  // As another site's post arrives from a browser that sends no Sec-Fetch-Site: without its Lax cookies.
  const res = await new InjectBrowser(h).post(url, { action: "consent", decision: "allow" });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, url);
  assert.equal(res.headers["set-cookie"], undefined);
});

test("a sign-out that carries no session cookie clears none: a forged one could clear a cookie the browser withheld", async () => {
  const res = await new InjectBrowser(h).post("/logout", {});
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers["set-cookie"], undefined);
});
