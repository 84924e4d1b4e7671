import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "../src/cli/clients.js";
import { loadConfig } from "../src/config.js";
import { createUser } from "../src/core/users.js";
import { startServer } from "../src/server.js";
import { DurabilityLostError, syncToDisk } from "../src/store/wal-sync.js";
import { consentAndIssue, pkcePair, REDIRECT_URI, TEST_SECRET } from "./support/harness.js";
import { tempDatabase } from "./support/server-process.js";

/** A disk whose syncs succeed until `failing` is set, then fail as a dying disk does (EIO). */
function flakyDisk() {
  const disk = {
    failing: false,
    syncs: 0,
    sync(fd: number): Promise<void> {
      disk.syncs++;
      if (disk.failing) return Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
      return syncToDisk(fd);
    },
  };
  return disk;
}

async function withinSeconds<T>(promise: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

test("a failed disk sync: the request is not acknowledged, and the server stops serving", async () => {
  const disk = flakyDisk();
  const config = loadConfig({
    DATABASE_URL: tempDatabase(),
    KEYWARD_SECRET: TEST_SECRET,
    PORT: "0",
    LOG_LEVEL: "silent",
  });
  const server = await startServer(config, { syncWal: disk.sync });
  try {
    const { runtime } = server;
    const { client, secret } = await createClient(runtime, {
      name: "Disk test",
      redirectUris: [REDIRECT_URI],
      scope: "profile:read",
    });
    const user = await createUser(runtime.core, { email: "disk@example.com", password: "correct horse battery" });
    const { verifier, challenge } = pkcePair();
    const code = await consentAndIssue(runtime.core, {
      clientId: client.id,
      userId: user.id,
      scopes: ["profile:read"],
      redirectUri: REDIRECT_URI,
      redirectUriExplicit: true,
      codeChallenge: challenge,
    });

    disk.failing = true;
    const syncsBefore = disk.syncs;
    const response = await fetch(`${server.url}/rest/v1/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${client.id}:${secret}`).toString("base64")}`,
      },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT_URI,
      }),
    });
    assert.equal(response.status, 500, "tokens whose storage may not survive are never handed out");
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.access_token, undefined);
    assert.equal(body.error, "server_error");

    const reason = await withinSeconds(server.stoppedOnFailure, 10);
    assert.ok(reason instanceof DurabilityLostError);
    assert.equal(disk.syncs, syncsBefore + 1, "no sync was tried again after the failure");
    await assert.rejects(fetch(`${server.url}/.well-known/jwks.json`), "the listener is closed");
  } finally {
    await server.stop();
  }
});
