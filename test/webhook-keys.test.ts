import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { rotateSigningKey } from "../src/core/signing-keys.js";
import { WEBHOOK_KEY_OVERLAP_MS } from "../src/core/webhook-signatures.js";
import { createHarness, type Harness } from "./support/harness.js";

const ADMIN_TOKEN = "admin-token-admin-token-0123456789-abcdef";

let h: Harness;
before(async () => {
  h = await createHarness({ KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN });
});
after(() => h.close());

async function connectKeys(): Promise<JSONWebKeySet> {
  const res = await h.app.inject({ method: "GET", url: "/rest/v1/connect/keys" });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

function sign(body: string, authorization = `Bearer ${ADMIN_TOKEN}`) {
  return h.app.inject({
    method: "POST",
    url: "/admin/v1/webhooks/sign",
    headers: { authorization, "content-type": "application/json" },
    payload: body,
  });
}

const NOTIFICATION = {
  id: "3d3f6b2e-0b7c-4a8e-9f51-7c1f0c2b9d10",
  created_at: 1765000000,
  type: "comment",
  content: { subscription_id: "sub-1", comment: { text: "héllo" } },
};

test("GET /rest/v1/connect/keys publishes Ed25519 keys in Canva's four fields, without authentication", async () => {
  const { keys } = await connectKeys();
  assert.equal(keys.length, 1);
  const [key] = keys;
  assert.deepEqual(Object.keys(key ?? {}).sort(), ["crv", "kid", "kty", "x"]);
  assert.equal(key?.kty, "OKP");
  assert.equal(key?.crv, "Ed25519");
  const tokenKeys = (await h.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json().keys;
  assert.ok(
    tokenKeys.every((k: { kid: string }) => k.kid !== key?.kid),
    "the token JWKS and the webhook keys are apart",
  );
});

test("a notification signed through the admin API verifies with the published keys, claims intact", async () => {
  const res = await sign(JSON.stringify(NOTIFICATION));
  assert.equal(res.statusCode, 200, res.body);
  const { jwt, kid } = res.json();
  assert.deepEqual(decodeProtectedHeader(jwt), { alg: "EdDSA", kid, typ: "JWT" });
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(await connectKeys()));
  assert.deepEqual(payload, NOTIFICATION);
  const tampered = `${jwt.split(".")[0]}.${Buffer.from(JSON.stringify({ ...NOTIFICATION, type: "x" })).toString("base64url")}.${jwt.split(".")[2]}`;
  await assert.rejects(jwtVerify(tampered, createLocalJWKSet(await connectKeys())));
});

test("the claims are the notification's own bytes, numbers JSON cannot carry through a parse included", async () => {
  const text = '{"id":"n-2", "big":12345678901234567890,\n"huge":1e999}';
  const res = await sign(text);
  assert.equal(res.statusCode, 200, res.body);
  const [, payload] = res.json().jwt.split(".");
  assert.equal(Buffer.from(payload, "base64url").toString("utf8"), text);
  await jwtVerify(res.json().jwt, createLocalJWKSet(await connectKeys()));
  // Any member name a notification carries is signed, __proto__ included (JSON.parse keeps it as a property).
  const odd = '{"type":"comment","content":{"__proto__":"x","constructor":{"prototype":1}}}';
  const signedOdd = await sign(odd);
  assert.equal(signedOdd.statusCode, 200, signedOdd.body);
  assert.equal(Buffer.from(signedOdd.json().jwt.split(".")[1], "base64url").toString("utf8"), odd);
  // A byte order mark before the object is no part of it: claims that began with one would not parse as JSON.
  const marked = await sign(`\uFEFF${text}`);
  assert.equal(marked.statusCode, 200, marked.body);
  assert.equal(Buffer.from(marked.json().jwt.split(".")[1], "base64url").toString("utf8"), text);
});

test("signing needs the admin token and a JSON object", async () => {
  const refused = await sign(JSON.stringify(NOTIFICATION), "Bearer not-the-admin-token");
  assert.equal(refused.statusCode, 401);
  for (const body of ["[1,2]", '"text"', "null", "", "{"]) {
    const res = await sign(body);
    assert.equal(res.statusCode, 400, body);
    assert.equal(res.json().error, "invalid_request");
  }
  const form = await h.app.inject({
    method: "POST",
    url: "/admin/v1/webhooks/sign",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/x-www-form-urlencoded" },
    payload: "id=1",
  });
  assert.equal(form.statusCode, 415);
});

test("after a rotation the new key signs, the old one stays published for the overlap, and token keys stay", async () => {
  const before = await sign(JSON.stringify(NOTIFICATION));
  const tokenKid = h.runtime.keyRing.current(Date.now()).kid;
  const now = Date.now();
  const { core } = h.runtime;
  await rotateSigningKey(core.store, core.keys, now, WEBHOOK_KEY_OVERLAP_MS, "webhooks");
  await h.runtime.loadKeys(now);
  const after = await sign(JSON.stringify(NOTIFICATION));
  assert.notEqual(after.json().kid, before.json().kid);
  assert.equal(h.runtime.keyRing.current(Date.now()).kid, tokenKid);
  const keys = await connectKeys();
  assert.equal(keys.keys.length, 2);
  for (const res of [before, after]) await jwtVerify(res.json().jwt, createLocalJWKSet(keys));
  await h.runtime.loadKeys(now + WEBHOOK_KEY_OVERLAP_MS + 1);
  assert.deepEqual(
    (await connectKeys()).keys.map((k) => k.kid),
    [after.json().kid],
  );
});
