/**
 * `node dist/bench/checks/password-burst.js [CHECKS] [ROUNDS]`: how long a refresh-token request
 * takes while CHECKS password checks (scrypt, as a burst of sign-ins runs them) are under way, next
 * to the same request alone. keyward runs in-process on a SQLite file, so the request's answer
 * waits for a disk sync, which shares libuv's thread pool with scrypt.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword, verifyPassword } from "../../src/core/passwords.js";
import { createHarness, FORM, form, REDIRECT_URI } from "../../test/support/harness.js";

const checks = Number(process.argv[2] ?? 40);
const rounds = Number(process.argv[3] ?? 3);

const directory = mkdtempSync(join(tmpdir(), "keyward-password-burst-"));
const h = await createHarness({ DATABASE_URL: join(directory, "keyward.db") });
try {
  const client = await h.createClient();
  const user = await h.createUser();
  const stored = await hashPassword("the right one");
  const tokenRequest = async (fields: Record<string, string>) => {
    const res = await h.app.inject({
      method: "POST",
      url: "/rest/v1/oauth/token",
      headers: { ...FORM, authorization: client.basic },
      payload: form(fields),
    });
    if (res.statusCode !== 200) throw new Error(`token request failed: ${res.body}`);
    return res.json().refresh_token as string;
  };
  const timedRefresh = async () => {
    const started = performance.now();
    refreshToken = await tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken });
    return performance.now() - started;
  };
  const { code, verifier } = await h.issueCode(client, user);
  let refreshToken = await tokenRequest({
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
  });
  for (let round = 1; round <= rounds; round++) {
    const alone = await timedRefresh();
    const burst = Array.from({ length: checks }, () => verifyPassword("a wrong one", stored));
    const during = await timedRefresh();
    await Promise.all(burst);
    console.log(
      `round ${round}: refresh alone ${alone.toFixed(1)} ms, beside ${checks} password checks ${during.toFixed(1)} ms`,
    );
  }
} finally {
  await h.close();
  rmSync(directory, { recursive: true, force: true });
}
