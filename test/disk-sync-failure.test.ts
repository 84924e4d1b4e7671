import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "../src/cli/clients.js";
import { loadConfig } from "../src/config.js";
import { createUser } from "../src/core/users.js";
import type { Runtime } from "../src/runtime.js";
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

/** A client, a user who consented to it, and a code issued to it with PKCE: what the token endpoint needs. */
async function clientWithCode(runtime: Runtime, email: string) {
  const { client, secret } = await createClient(runtime, {
    name: "Disk test",
    redirectUris: [REDIRECT_URI],
    scope: "profile:read",
  });
  const user = await createUser(runtime.core, { email, password: "correct horse battery" });
  const { verifier, challenge } = pkcePair();
  const code = await consentAndIssue(runtime.core, {
    clientId: client.id,
    userId: user.id,
    scopes: ["profile:read"],
    redirectUri: REDIRECT_URI,
    redirectUriExplicit: true,
    codeChallenge: challenge,
  });
  const redemption = { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI };
  return { clientId: client.id, secret, redemption };
}

/** A server on a fresh SQLite file, on any free port. */
const serverConfig = (env: Record<string, string> = {}) =>
  loadConfig({ DATABASE_URL: tempDatabase(), KEYWARD_SECRET: TEST_SECRET, PORT: "0", LOG_LEVEL: "silent", ...env });

/** Client credentials as HTTP Basic, and a form body, for the Canva token endpoint. */
function tokenRequest(clientId: string, secret: string, form: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`,
    },
    body: new URLSearchParams(form),
  };
}

test("a failed disk sync: the request is not acknowledged, and the server stops serving", async () => {
  const disk = flakyDisk();
  const config = serverConfig();
  const server = await startServer(config, { syncWal: disk.sync });
  try {
    const { clientId, secret, redemption } = await clientWithCode(server.runtime, "disk@example.com");
    disk.failing = true;
    const syncsBefore = disk.syncs;
    const response = await fetch(`${server.url}/rest/v1/oauth/token`, tokenRequest(clientId, secret, redemption));
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

for (const grace of ["0", "30"]) {
  test(`a refresh answered with a failed sync's 500, retried after a restart: KEYWARD_REFRESH_GRACE=${grace}`, async () => {
    const disk = flakyDisk();
    const config = serverConfig({ KEYWARD_REFRESH_GRACE: grace });
    const first = await startServer(config, { syncWal: disk.sync });
    let refreshToken: string;
    let credentials: [string, string];
    try {
      const { clientId, secret, redemption } = await clientWithCode(first.runtime, "retry@example.com");
      credentials = [clientId, secret];
      const issued = await fetch(`${first.url}/rest/v1/oauth/token`, tokenRequest(clientId, secret, redemption));
      assert.equal(issued.status, 200);
      refreshToken = ((await issued.json()) as { refresh_token: string }).refresh_token;

      disk.failing = true;
      const lost = await fetch(
        `${first.url}/rest/v1/oauth/token`,
        tokenRequest(clientId, secret, { grant_type: "refresh_token", refresh_token: refreshToken }),
      );
      assert.equal(lost.status, 500);
      await withinSeconds(first.stoppedOnFailure, 10);
    } finally {
      await first.stop();
    }

    // The rotation reached the WAL, which a restart reads back: the presented token is spent.
    const second = await startServer(config);
    try {
      const retried = await fetch(
        `${second.url}/rest/v1/oauth/token`,
        tokenRequest(...credentials, { grant_type: "refresh_token", refresh_token: refreshToken }),
      );
      const body = (await retried.json()) as Record<string, unknown>;
      if (grace === "0") {
        assert.equal(retried.status, 400, "without a grace the retry is reuse");
        assert.equal(body.error, "invalid_grant");
      } else {
        assert.equal(retried.status, 200, JSON.stringify(body));
        const next = await fetch(
          `${second.url}/rest/v1/oauth/token`,
          tokenRequest(...credentials, { grant_type: "refresh_token", refresh_token: String(body.refresh_token) }),
        );
        assert.equal(next.status, 200, "the lineage goes on");
      }
    } finally {
      await second.stop();
    }
  });
}
