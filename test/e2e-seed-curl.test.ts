import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { decodeJwt } from "jose";
import { authorize, type CliClient, createClientWithCli, createUserWithCli, pkce } from "./support/browserless.js";
import { type ServerProcess, startServerProcess, tempDatabase } from "./support/server-process.js";

/**
 * The curl examples of Canva's token, introspect and revoke documentation, run with the real
 * curl binary against a real `keyward start`: only the host is swapped and the example values
 * replaced by real ones (a code obtained through the authorization pages, its verifier, the
 * client's Basic credentials). The server runs without KEYWARD_SECRET, on a generated secret.
 */

const execFileAsync = promisify(execFile);
const curlMissing = spawnSync("curl", ["--version"]).error !== undefined;
const skip = curlMissing ? "curl is not installed; skipping the seed curl examples" : false;

// The example values the documentation uses, replaced by real ones before running.
const EXAMPLE_VERIFIER = "i541qdcfkb4htnork0w92lnu43en99ls5a48ittv6udqgiflqon8vusojojakbq4";
const EXAMPLE_CODE =
  "kp8nnroja7qnx00.opyc1p76rcbyflsxbycjqfp3ub8vzsvltpzwafy9q5l45dn5fxzhe7i7a6mg1i2t8jpsa6sebdeumkzzhicskabgevrxsssec4dvjwfvhq4gs3ugghguar0voiqpfb7axsapiojoter8v3w2s5s3st84jpv2l06h667iw241xngy9c8=vu1tnjp7sz";
const EXAMPLE_ACCESS_TOKEN =
  "JagALLazU0i2ld9WW4zTO4kaG0lkvP8Y5sSO206ZwxNF4E1y3xKJKF7TzN17BXTfaNOeY0P88AeRCE6cRF7SJzvf3Sx97rA80sGHtFplFo";

/** Seed 001 ("Generate an access token"), verbatim. */
const SEED_001_TOKEN = `curl --request POST 'https://api.canva.com/rest/v1/oauth/token' \\
--header 'Authorization: Basic {credentials}' \\
--header 'Content-Type: application/x-www-form-urlencoded' \\
--data-urlencode 'grant_type=authorization_code' \\
--data-urlencode 'code_verifier=${EXAMPLE_VERIFIER}' \\
--data-urlencode 'code=${EXAMPLE_CODE}' \\
--data-urlencode 'redirect_uri=https://example.com/process-auth'`;

/** Seed 002 (the same request on a self-hosted server, with --location), verbatim. */
const SEED_002_TOKEN = `curl --location --request POST 'http://dev-cn.your-api-server.com/rest/v1/oauth/token' \\
--header 'Authorization: Basic {credentials}' \\
--header 'Content-Type: application/x-www-form-urlencoded' \\
--data-urlencode 'grant_type=authorization_code' \\
--data-urlencode 'code_verifier=${EXAMPLE_VERIFIER}' \\
--data-urlencode 'code=${EXAMPLE_CODE}' \\
--data-urlencode 'redirect_uri=https://example.com/process-auth'`;

/** Seed 003 ("Introspect an access token"), verbatim. */
const SEED_003_INTROSPECT = `curl --request POST 'https://api.canva.com/rest/v1/oauth/introspect' \\
--header 'Authorization: Basic {credentials}' \\
--header 'Content-Type: application/x-www-form-urlencoded' \\
--data-urlencode 'token=${EXAMPLE_ACCESS_TOKEN}'`;

/**
 * Seed 000 shows `revoke_tokens(token)` through the generated client configured for basicAuth,
 * with form-urlencoded content; this is that request in the style of the curl examples above.
 */
const SEED_000_REVOKE = `curl --request POST 'https://api.canva.com/rest/v1/oauth/revoke' \\
--header 'Authorization: Basic {credentials}' \\
--header 'Content-Type: application/x-www-form-urlencoded' \\
--data-urlencode 'token=${EXAMPLE_ACCESS_TOKEN}'`;

/**
 * Seed 000/001's refresh: `grant_type=refresh_token` and `refresh_token`, here with the
 * "Body parameters" client authentication the seeds document as the alternative to Basic.
 */
const SEED_001_REFRESH_BODY_AUTH = `curl --request POST 'https://api.canva.com/rest/v1/oauth/token' \\
--header 'Content-Type: application/x-www-form-urlencoded' \\
--data-urlencode 'grant_type=refresh_token' \\
--data-urlencode 'refresh_token=JABix5nolsk9k8n2r0f8nq1gw4zjo40ht6sb4i573wgdzmkwdmiy6muh897hp0bxyab276wtgqkvtob2mg9aidt5d6rcltcbcgs101' \\
--data-urlencode 'client_id=OC-FAB12-AbCdEf' \\
--data-urlencode 'client_secret=cnvcaAbcdefg12345_hijklm6789'`;

const SEED_SCOPE = "asset:read design:meta:read design:permission:read folder:read";
const SEED_REDIRECT_URI = "https://example.com/process-auth";

/** Splits a shell command the way sh would for these examples: single quotes and `\` line continuations. */
function shellWords(command: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  const text = command.replaceAll("\\\n", " ");
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error("unterminated quote");
      current = (current ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (/\s/.test(ch)) {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      current = (current ?? "") + ch;
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

let server: ServerProcess;
let env: Record<string, string>;
let client: CliClient;
let user: { email: string; password: string };

before(async () => {
  if (skip) return;
  // KEYWARD_SECRET empty: the server generates one beside the database and the CLI reads it.
  env = { DATABASE_URL: tempDatabase(), KEYWARD_SECRET: "" };
  server = await startServerProcess(env);
  client = createClientWithCli(env, {
    name: "Seed Examples",
    redirectUris: [SEED_REDIRECT_URI, "https://example.com/other"],
    scope: SEED_SCOPE,
  });
  user = createUserWithCli(env, { email: "seed@example.com", password: "seed-password-123" });
});

after(async () => {
  await server?.stop();
});

/** Runs a documented curl example with the host swapped and the example values replaced. */
async function runExample(
  example: string,
  values: Record<string, string>,
): Promise<{ status: number; contentType: string; body: Record<string, unknown> }> {
  const replacements: [string, string][] = [
    ["https://api.canva.com", server.url],
    ["http://dev-cn.your-api-server.com", server.url],
    ["{credentials}", Buffer.from(`${client.clientId}:${client.clientSecret}`).toString("base64")],
    ...Object.entries(values),
  ];
  const words = shellWords(example);
  assert.equal(words[0], "curl");
  const args = words.slice(1).map((word) => replacements.reduce((w, [from, to]) => w.replaceAll(from, to), word));
  for (const [from] of replacements) {
    assert.ok(!args.some((a) => a.includes(from)), `example value ${from} was replaced`);
  }
  const { stdout } = await execFileAsync(
    "curl",
    [...args, "--silent", "--show-error", "--max-time", "10", "--write-out", "\n%{http_code} %{content_type}"],
    { timeout: 15_000 },
  );
  const cut = stdout.lastIndexOf("\n");
  const [status = "", contentType = ""] = stdout.slice(cut + 1).split(" ");
  return { status: Number(status), contentType, body: JSON.parse(stdout.slice(0, cut)) as Record<string, unknown> };
}

/** A real code for the seed's redirect URI, obtained by signing in and allowing on the pages. */
async function realCode(options: { explicitRedirect: boolean; method: string }) {
  const { verifier, challenge } = pkce();
  const url = new URL("/api/oauth/authorize", server.url);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", client.clientId);
  url.searchParams.set("scope", SEED_SCOPE);
  url.searchParams.set("state", "seed-state");
  url.searchParams.set("code_challenge", challenge);
  url.searchParams.set("code_challenge_method", options.method);
  if (options.explicitRedirect) url.searchParams.set("redirect_uri", SEED_REDIRECT_URI);
  const { redirect } = await authorize(url, user);
  assert.equal(`${redirect.origin}${redirect.pathname}`, SEED_REDIRECT_URI);
  assert.equal(redirect.searchParams.get("state"), "seed-state");
  assert.equal(redirect.searchParams.get("iss"), server.url);
  const code = redirect.searchParams.get("code");
  assert.ok(code, `the redirect carries a code: ${redirect}`);
  return { code, verifier };
}

const TOKEN_FIELDS = ["access_token", "expires_in", "refresh_token", "scope", "token_type"];

function assertTokenResponse(response: Awaited<ReturnType<typeof runExample>>) {
  assert.equal(response.status, 200, JSON.stringify(response.body));
  assert.match(response.contentType, /^application\/json/);
  assert.deepEqual(Object.keys(response.body).sort(), TOKEN_FIELDS);
  assert.equal(response.body.token_type, "Bearer");
  assert.equal(response.body.expires_in, 14400);
  assert.equal(response.body.scope, SEED_SCOPE);
  assert.equal(typeof response.body.access_token, "string");
  assert.equal(typeof response.body.refresh_token, "string");
  const access = response.body.access_token as string;
  assert.ok(access.length <= 4096, "access tokens are at most 4 KB");
  const claims = decodeJwt(access);
  assert.equal(claims.client, client.clientId);
  assert.equal(claims.scope, SEED_SCOPE);
  return { access, refresh: response.body.refresh_token as string, claims };
}

let issued: { access: string; refresh: string; claims: ReturnType<typeof decodeJwt> } | undefined;

test("the generated secret is kept beside the database, readable only by its owner, and the log says where", {
  skip,
}, () => {
  const file = join(dirname(env.DATABASE_URL as string), "keyward.secret");
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const said = server
    .output()
    .split("\n")
    .find((line) => line.includes("generated a server secret"));
  assert.equal(JSON.parse(said ?? "{}").secret_file, file);
});

test("seed 001: the token request with Basic credentials exchanges a real code", { skip }, async () => {
  const { code, verifier } = await realCode({ explicitRedirect: true, method: "S256" });
  const response = await runExample(SEED_001_TOKEN, { [EXAMPLE_VERIFIER]: verifier, [EXAMPLE_CODE]: code });
  issued = assertTokenResponse(response);
});

test("seed 002: the self-hosted form of the request (--location, lowercase s256, default redirect)", {
  skip,
}, async () => {
  // The authorization URL names no redirect_uri (the first registered is used, as documented)
  // and the docs' template spelling `s256`; the token request still sends redirect_uri.
  const { code, verifier } = await realCode({ explicitRedirect: false, method: "s256" });
  const values = { [EXAMPLE_VERIFIER]: verifier, [EXAMPLE_CODE]: code };
  const tokens = assertTokenResponse(await runExample(SEED_002_TOKEN, values));
  assert.notEqual(tokens.access, issued?.access);

  // Replaying the same request: the code is single-use, and its reuse revokes what it issued.
  const replay = await runExample(SEED_002_TOKEN, values);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.code, "invalid_grant");
  assert.equal(replay.body.error, "invalid_grant");
  assert.equal(typeof replay.body.message, "string");
  const revoked = await runExample(SEED_003_INTROSPECT, { [EXAMPLE_ACCESS_TOKEN]: tokens.access });
  assert.deepEqual(revoked.body, { active: false });

  // The wrong verifier is refused, in Canva's error shape.
  const other = await realCode({ explicitRedirect: false, method: "s256" });
  const wrong = await runExample(SEED_002_TOKEN, { [EXAMPLE_VERIFIER]: pkce().verifier, [EXAMPLE_CODE]: other.code });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.code, "invalid_grant");
});

test("seed 003: introspecting the access token returns the documented fields", { skip }, async () => {
  assert.ok(issued, "seed 001 issued tokens");
  const response = await runExample(SEED_003_INTROSPECT, { [EXAMPLE_ACCESS_TOKEN]: issued.access });
  assert.equal(response.status, 200);
  const body = response.body;
  assert.equal(body.active, true);
  assert.equal(body.scope, SEED_SCOPE);
  assert.equal(body.client, client.clientId);
  for (const field of ["exp", "iat", "nbf"]) assert.ok(Number.isInteger(body[field]), `${field} is a Unix time`);
  assert.equal((body.exp as number) - (body.iat as number), 14400);
  assert.equal(body.nbf, body.iat);
  assert.equal(body.exp, issued.claims.exp);
  assert.equal(body.jti, issued.claims.jti);
  assert.equal(body.sub, issued.claims.sub);
  assert.equal(typeof body.sub, "string");

  const unknown = await runExample(SEED_003_INTROSPECT, { [EXAMPLE_ACCESS_TOKEN]: "not-a-real-token" });
  assert.equal(unknown.status, 200);
  assert.deepEqual(unknown.body, { active: false });
});

test("refresh with body-parameter credentials rotates the refresh token", { skip }, async () => {
  assert.ok(issued, "seed 001 issued tokens");
  const response = await runExample(SEED_001_REFRESH_BODY_AUTH, {
    JABix5nolsk9k8n2r0f8nq1gw4zjo40ht6sb4i573wgdzmkwdmiy6muh897hp0bxyab276wtgqkvtob2mg9aidt5d6rcltcbcgs101:
      issued.refresh,
    "OC-FAB12-AbCdEf": client.clientId,
    cnvcaAbcdefg12345_hijklm6789: client.clientSecret,
  });
  const refreshed = assertTokenResponse(response);
  assert.notEqual(refreshed.refresh, issued.refresh);
  assert.notEqual(refreshed.access, issued.access);
  assert.equal(refreshed.claims.sub, issued.claims.sub);
  issued = refreshed;
});

test("seed 000: revoking the refresh token answers {} and revokes its lineage", { skip }, async () => {
  assert.ok(issued, "an earlier test issued tokens");
  const before = await runExample(SEED_003_INTROSPECT, { [EXAMPLE_ACCESS_TOKEN]: issued.access });
  assert.equal(before.body.active, true);

  const response = await runExample(SEED_000_REVOKE, { [EXAMPLE_ACCESS_TOKEN]: issued.refresh });
  assert.equal(response.status, 200);
  assert.deepEqual(response.body, {});

  for (const token of [issued.access, issued.refresh]) {
    const after = await runExample(SEED_003_INTROSPECT, { [EXAMPLE_ACCESS_TOKEN]: token });
    assert.deepEqual(after.body, { active: false });
  }
  // Revoking is idempotent.
  const again = await runExample(SEED_000_REVOKE, { [EXAMPLE_ACCESS_TOKEN]: issued.refresh });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, {});
});
