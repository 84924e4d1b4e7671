import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jwtVerify } from "jose";
import { signEs256Jwt } from "../src/core/jws.js";
import { SigningThread } from "../src/core/signing-thread.js";

const run = promisify(execFile);
const FAILING_WORKER = new URL("./support/failing-signing-worker.js", import.meta.url);
const header = { alg: "ES256", kid: "k", typ: "JWT" };

function p256() {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

/** Signs `count` tokens in one turn of the event loop, the key of each chosen by `keyOf`. */
function signMany(thread: SigningThread, count: number, keyOf: (i: number) => KeyObject) {
  return Array.from({ length: count }, (_, i) => signEs256Jwt(header, { n: i }, keyOf(i), thread.sign));
}

async function assertVerifies(jwt: string, publicKey: KeyObject, n: number) {
  const { payload } = await jwtVerify(jwt, publicKey);
  assert.equal(payload.n, n);
}

describe("signing thread", () => {
  test("signs a turn's worth of tokens under keys that change within the batch", async () => {
    const thread = new SigningThread();
    const [a, b] = [p256(), p256()];
    // Runs of one key, then the other, then back: each run must go out with its own key.
    const keyOf = (i: number) => (Math.floor(i / 7) % 2 === 0 ? a : b);
    try {
      for (let round = 0; round < 3; round++) {
        const jwts = await Promise.all(signMany(thread, 40, (i) => keyOf(i).privateKey));
        await Promise.all(jwts.map((jwt, i) => assertVerifies(jwt, keyOf(i).publicKey, i)));
      }
    } finally {
      await thread.close();
    }
  });

  test("a signature the thread cannot make fails alone", async () => {
    const thread = new SigningThread();
    const good = p256();
    const ed25519 = generateKeyPairSync("ed25519").privateKey;
    try {
      const [first, bad, last] = [
        signEs256Jwt(header, { n: 0 }, good.privateKey, thread.sign),
        signEs256Jwt(header, { n: 1 }, ed25519, thread.sign),
        signEs256Jwt(header, { n: 2 }, good.privateKey, thread.sign),
      ];
      await assert.rejects(bad, /signing failed/);
      await assertVerifies(await first, good.publicKey, 0);
      await assertVerifies(await last, good.publicKey, 2);
    } finally {
      await thread.close();
    }
  });

  test("when the thread dies, what it held and everything after is signed on the thread pool", async () => {
    const lost: Error[] = [];
    const thread = new SigningThread((error) => lost.push(error), FAILING_WORKER);
    const { privateKey, publicKey } = p256();
    const held = await Promise.all(signMany(thread, 10, () => privateKey));
    await Promise.all(held.map((jwt, i) => assertVerifies(jwt, publicKey, i)));
    const later = await Promise.all(signMany(thread, 3, () => privateKey));
    await Promise.all(later.map((jwt, i) => assertVerifies(jwt, publicKey, i)));
    await thread.close();
    assert.equal(lost.length, 1, "the loss is told once");
  });

  test("a thread that cannot start leaves signing to the thread pool", async () => {
    const lost: Error[] = [];
    const missing = new URL("./support/no-such-signing-worker.js", import.meta.url);
    const thread = new SigningThread((error) => lost.push(error), missing);
    const { privateKey, publicKey } = p256();
    const jwts = await Promise.all(signMany(thread, 4, () => privateKey));
    await Promise.all(jwts.map((jwt, i) => assertVerifies(jwt, publicKey, i)));
    await thread.close();
    assert.equal(lost.length, 1);
    assert.match(String(lost[0]?.message), /no-such-signing-worker/);
  });

  test("closing answers what is outstanding, and signing still works after it", async () => {
    const lost: Error[] = [];
    const thread = new SigningThread((error) => lost.push(error));
    const { privateKey, publicKey } = p256();
    const outstanding = signMany(thread, 5, () => privateKey);
    await new Promise((resolve) => setImmediate(resolve));
    await thread.close();
    const jwts = await Promise.all([...outstanding, ...signMany(thread, 2, () => privateKey)]);
    await Promise.all(jwts.map((jwt, i) => assertVerifies(jwt, publicKey, i % 5)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(lost, [], "a thread closed is not a thread lost");
  });

  test("an idle thread does not keep the process alive", async () => {
    const module = fileURLToPath(new URL("../src/core/signing-thread.js", import.meta.url));
    const script = `
      const { generateKeyPairSync } = await import("node:crypto");
      const { SigningThread } = await import(${JSON.stringify(module)});
      const thread = new SigningThread();
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      console.log((await thread.sign("a.b", privateKey)).length);
    `;
    // A file, not `-e`: a process running `-e` code exits when that code is done, threads or not.
    const directory = mkdtempSync(join(tmpdir(), "keyward-signing-"));
    try {
      const file = join(directory, "sign-once.mjs");
      writeFileSync(file, script);
      const { stdout } = await run(process.execPath, [file], { timeout: 10_000 });
      assert.equal(stdout.trim(), "86");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
