import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { authorize, createClientWithCli, createUserWithCli, pkce } from "./support/browserless.js";
import { runCli, startServerProcess } from "./support/server-process.js";

const REDIRECT_URI = "https://client.example/callback";
const SCOPE = "profile:read";

/** A filesystem of its own, small enough to fill: tmpfs, which only root may mount. */
function smallFilesystem(): string | undefined {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "keyward-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/** Writes a file until the filesystem has no room left. */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (const size of [block.length, 4096, 512, 1]) {
      try {
        for (;;) writeSync(fd, block, 0, size);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function unmount(dir: string): void {
  execFileSync("umount", [dir]);
  rmSync(dir, { recursive: true, force: true });
}

const probe = smallFilesystem();
if (probe) unmount(probe);
else console.log("disk-full tests skipped: they mount a small tmpfs, which needs root on Linux");
const skip = probe === undefined;

test("a full disk: Canva's writes are answered 503 with Retry-After, logged once, and the same process recovers", {
  skip,
}, async () => {
  const dir = smallFilesystem() as string;
  const env = {
    DATABASE_URL: join(dir, "keyward.db"),
    KEYWARD_SECRET: randomBytes(32).toString("hex"),
    KEYWARD_RATE_PER_CLIENT: "0",
    KEYWARD_RATE_PER_ADDRESS: "0",
    LOG_LEVEL: "warn",
  };
  try {
    const client = createClientWithCli(env, { name: "Full", redirectUris: [REDIRECT_URI], scope: SCOPE });
    const user = createUserWithCli(env, { email: "full@example.com", password: "long enough pw" });
    const server = await startServerProcess(env);
    try {
      const codeFor = async () => {
        const { verifier, challenge } = pkce();
        const query = new URLSearchParams({
          response_type: "code",
          client_id: client.clientId,
          redirect_uri: REDIRECT_URI,
          scope: SCOPE,
          code_challenge: challenge,
          code_challenge_method: "S256",
        });
        const { redirect } = await authorize(`${server.url}/api/oauth/authorize?${query}`, user);
        return { code: redirect.searchParams.get("code") ?? "", verifier };
      };
      const post = (path: string, form: Record<string, string>) =>
        fetch(`${server.url}${path}`, {
          method: "POST",
          headers: { authorization: client.basic, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(form),
        });
      const exchange = (grant: { code: string; verifier: string }) =>
        post("/rest/v1/oauth/token", {
          grant_type: "authorization_code",
          code: grant.code,
          code_verifier: grant.verifier,
          redirect_uri: REDIRECT_URI,
        });
      const tokensOf = async (answer: Response) =>
        (await answer.json()) as { access_token: string; refresh_token: string };
      const first = await exchange(await codeFor());
      assert.equal(first.status, 200);
      let { refresh_token: refreshToken, access_token: accessToken } = await tokensOf(first);
      // Lineages of their own to revoke one by one, and a code to redeem, while the disk is full.
      const toRevoke: string[] = [];
      for (let i = 0; i < 40; i++) toRevoke.push((await tokensOf(await exchange(await codeFor()))).access_token);
      const waiting = await codeFor();
      const isUnavailableAnswer = async (answer: Response) => {
        assert.equal(answer.status, 503);
        assert.equal(answer.headers.get("retry-after"), "5");
        assert.deepEqual(await answer.json(), {
          code: "service_unavailable",
          message: "The service is temporarily unavailable",
          error: "temporarily_unavailable",
          error_description: "The service is temporarily unavailable",
        });
      };

      fill(join(dir, "filler"));
      // Room the WAL file already holds is written again without new blocks, and while a checkpoint
      // can copy it back into pages the file has, the WAL starts over: a write that only changes
      // rows (a revocation) may go on fitting. Refreshes add rows, so the file must grow, and soon
      // nothing fits. Every answer is a 200 or that 503.
      let refreshRefused = false;
      for (let attempt = 0; attempt < 3000 && !refreshRefused; attempt++) {
        const answer = await post("/rest/v1/oauth/token", { grant_type: "refresh_token", refresh_token: refreshToken });
        if (answer.status !== 200) {
          await isUnavailableAnswer(answer);
          refreshRefused = true;
          continue;
        }
        ({ refresh_token: refreshToken, access_token: accessToken } = await tokensOf(answer));
      }
      assert.ok(refreshRefused, "no refresh (a group commit) was refused");
      let refusedRevocation: string | undefined;
      for (const token of toRevoke) {
        const answer = await post("/rest/v1/oauth/revoke", { token });
        if (answer.status === 200) continue;
        await isUnavailableAnswer(answer);
        refusedRevocation = token;
        break;
      }
      assert.ok(refusedRevocation, "no revocation (the write thread) was refused");
      const exchangeWhileFull = await exchange(waiting);
      if (exchangeWhileFull.status !== 200) await isUnavailableAnswer(exchangeWhileFull);
      // Reads go on.
      const introspected = await post("/rest/v1/oauth/introspect", { token: accessToken });
      assert.equal(((await introspected.json()) as { active: boolean }).active, true);

      rmSync(join(dir, "filler"));
      // Nothing refused took effect: the refresh token and the code work now, and the token whose
      // revocation was refused is active until it is revoked again.
      const refreshed = await post("/rest/v1/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: refreshToken,
      });
      assert.equal(refreshed.status, 200, await refreshed.clone().text());
      if (exchangeWhileFull.status !== 200) assert.equal((await exchange(waiting)).status, 200);
      const stillActive = await post("/rest/v1/oauth/introspect", { token: refusedRevocation });
      assert.equal(((await stillActive.json()) as { active: boolean }).active, true);
      assert.equal((await post("/rest/v1/oauth/revoke", { token: refusedRevocation })).status, 200);
      const afterRevoke = await post("/rest/v1/oauth/introspect", { token: refusedRevocation });
      assert.deepEqual(await afterRevoke.json(), { active: false });

      const logged = server
        .output()
        .trim()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { code?: string } });
      const warnings = logged.filter((line) => line.msg.includes("answering 503"));
      assert.equal(warnings.length, 1, server.output());
      assert.equal(warnings[0]?.err?.code, "SQLITE_FULL");
      assert.deepEqual(
        logged.filter((line) => line.level >= 50),
        [],
        "no error lines: a full disk is not a server fault",
      );
    } finally {
      await server.stop();
    }
  } finally {
    unmount(dir);
  }
});

test("a first start on a full disk leaves no secret file and says what is wrong; with room, it starts", {
  skip,
}, async () => {
  const dir = smallFilesystem() as string;
  try {
    fill(join(dir, "filler"));
    const database = join(dir, "fresh", "keyward.db");
    const generating = runCli(["migrate"], { DATABASE_URL: database });
    assert.equal(generating.status, 1, generating.stderr);
    assert.match(generating.stderr, /ENOSPC/);
    assert.deepEqual(readdirSync(join(dir, "fresh")), [], "no secret, whole or partial");
    const secret = { DATABASE_URL: database, KEYWARD_SECRET: randomBytes(32).toString("hex") };
    const migrating = runCli(["migrate"], secret);
    assert.equal(migrating.status, 1, migrating.stderr);
    assert.match(migrating.stderr, /\(SQLITE_[A-Z_]+\): is the disk that holds the database full or failing\?/);
    rmSync(join(dir, "filler"));
    const generated = runCli(["migrate"], { DATABASE_URL: database });
    assert.equal(generated.status, 0, generated.stderr);
    assert.ok(readFileSync(join(dir, "fresh", "keyward.secret"), "utf8").trim().length >= 32);
  } finally {
    unmount(dir);
  }
});
