import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, test } from "node:test";
import { ConfigError, loadConfig } from "../src/config.js";
import { startServer } from "../src/server.js";
import { syncToDisk } from "../src/store/wal-sync.js";
import { REDIRECT_URI, SCOPES, TEST_SECRET } from "./support/harness.js";
import { tempDatabase } from "./support/server-process.js";

const ADMIN_TOKEN = "admin-token-admin-token-0123456789-abcdef";
const BEARER = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe("KEYWARD_ADMIN_PORT settings", () => {
  const base = { DATABASE_URL: ":memory:", KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN };

  test("puts the admin API on a listener of its own, on the loopback address unless told", () => {
    assert.equal(loadConfig(base).adminListener, undefined);
    assert.deepEqual(loadConfig({ ...base, KEYWARD_ADMIN_PORT: "9090" }).adminListener, {
      port: 9090,
      host: "127.0.0.1",
    });
    assert.deepEqual(
      loadConfig({ ...base, KEYWARD_ADMIN_PORT: "9090", KEYWARD_ADMIN_HOST: "10.0.0.5" }).adminListener,
      { port: 9090, host: "10.0.0.5" },
    );
    assert.deepEqual(loadConfig({ ...base, PORT: "0", KEYWARD_ADMIN_PORT: "0" }).adminListener?.port, 0);
  });

  test("refuses what cannot be meant", () => {
    const refused = (env: Record<string, string>, message: RegExp) =>
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    refused({ DATABASE_URL: ":memory:", KEYWARD_ADMIN_PORT: "9090" }, /needs KEYWARD_ADMIN_TOKEN/);
    refused({ ...base, KEYWARD_ADMIN_PORT: "8080" }, /must differ from PORT/);
    refused({ ...base, PORT: "9000", KEYWARD_ADMIN_PORT: "9000" }, /must differ from PORT/);
    refused({ ...base, KEYWARD_ADMIN_PORT: "90x" }, /KEYWARD_ADMIN_PORT must be a port number/);
    refused({ ...base, KEYWARD_ADMIN_PORT: "70000" }, /KEYWARD_ADMIN_PORT must be a port number/);
    refused({ ...base, KEYWARD_ADMIN_HOST: "0.0.0.0" }, /KEYWARD_ADMIN_HOST needs KEYWARD_ADMIN_PORT/);
    refused({ ...base, PORT: "http" }, /PORT must be a port number/);
  });
});

/** Sends raw bytes and resolves with everything the server answered before it closed. */
function rawExchange(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk;
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

test("the admin listener serves the admin API alone, and the public listener no longer serves it", async () => {
  let diskFails = false;
  const server = await startServer(
    loadConfig({
      DATABASE_URL: tempDatabase(),
      KEYWARD_SECRET: TEST_SECRET,
      PORT: "0",
      LOG_LEVEL: "silent",
      KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN,
      KEYWARD_ADMIN_PORT: "0",
    }),
    {
      syncWal: (fd) => (diskFails ? Promise.reject(Object.assign(new Error("EIO"), { code: "EIO" })) : syncToDisk(fd)),
    },
  );
  try {
    const admin = server.admin;
    assert.ok(admin, "an admin listener");
    assert.notEqual(admin.url, server.url);
    assert.match(admin.url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const created = await fetch(`${admin.url}/admin/v1/clients`, {
      method: "POST",
      headers: { ...BEARER, "content-type": "application/json" },
      body: JSON.stringify({ client_name: "Portal", redirect_uris: [REDIRECT_URI], scope: SCOPES }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { client_id: clientId } = (await created.json()) as { client_id: string };
    const listed = await fetch(`${admin.url}/admin/v1/clients/${clientId}`, { headers: BEARER });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get("cache-control"), "no-store");

    // The public port knows nothing of it, token or not; the integration itself works there.
    const publicly = await fetch(`${server.url}/admin/v1/clients`, { headers: BEARER });
    assert.equal(publicly.status, 404);
    assert.match(String(publicly.headers.get("content-type")), /text\/html/);
    const publicUnroutable = await fetch(`${server.url}/admin/v1/clients/%zz`, { headers: BEARER });
    assert.equal(publicUnroutable.status, 400);
    assert.match(String(publicUnroutable.headers.get("content-type")), /text\/html/, "a page, as for any other path");
    const metadata = await fetch(`${server.url}/.well-known/oauth-authorization-server`);
    assert.equal(metadata.status, 200);

    // Nor does the admin port serve anything else; every answer there is the admin API's JSON.
    const token = await fetch(`${admin.url}/rest/v1/oauth/token`, { method: "POST" });
    assert.equal(token.status, 404);
    assert.deepEqual(await token.json(), { error: "not_found", error_description: "Not found" });
    const unauthenticated = await fetch(`${admin.url}/admin/v1/clients`);
    assert.equal(unauthenticated.status, 401);
    assert.equal(((await unauthenticated.json()) as { error: string }).error, "invalid_token");
    const unroutable = await fetch(`${admin.url}/admin/v1/clients/%zz`, { headers: BEARER });
    assert.equal(unroutable.status, 400);
    assert.equal(((await unroutable.json()) as { error: string }).error, "invalid_request");
    const oversized = await rawExchange(
      admin.url,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    assert.match(oversized, /^HTTP\/1\.1 431 /);
    assert.match(oversized, /\{"error":"invalid_request","error_description":"Request headers too large"\}$/);

    // A change the disk could not keep is not acknowledged, in the admin API's shape.
    diskFails = true;
    const lost = await fetch(`${admin.url}/admin/v1/clients`, {
      method: "POST",
      headers: { ...BEARER, "content-type": "application/json" },
      body: JSON.stringify({ client_name: "Lost", redirect_uris: [REDIRECT_URI], scope: SCOPES }),
    });
    assert.equal(lost.status, 500);
    assert.deepEqual(await lost.json(), {
      error: "server_error",
      error_description: "The request could not be completed",
    });
    assert.equal(lost.headers.get("location"), null);
    await server.stoppedOnFailure;
    await assert.rejects(fetch(`${admin.url}/admin/v1/clients`, { headers: BEARER }), "both listeners closed");
    await assert.rejects(fetch(`${server.url}/healthz`));
  } finally {
    await server.stop();
  }
});

test("a taken admin port stops the start cleanly", async () => {
  const first = await startServer(
    loadConfig({
      DATABASE_URL: ":memory:",
      PORT: "0",
      LOG_LEVEL: "silent",
      KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN,
      KEYWARD_ADMIN_PORT: "0",
    }),
  );
  try {
    const taken = new URL(first.admin?.url ?? "").port;
    await assert.rejects(
      startServer(
        loadConfig({
          DATABASE_URL: ":memory:",
          PORT: "0",
          LOG_LEVEL: "silent",
          KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN,
          KEYWARD_ADMIN_PORT: taken,
        }),
      ),
      /EADDRINUSE/,
    );
  } finally {
    await first.stop();
  }
});
