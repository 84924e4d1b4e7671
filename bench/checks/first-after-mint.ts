/**
 * `node dist/bench/checks/first-after-mint.js [TOKENS]`: how long keyward takes to answer the first
 * revocations after the benchmark mints a pool of TOKENS refresh tokens (144,000 unless given), as
 * it does before each measured revocation run. The server is warmed up first, as in the benchmark.
 */
import { drive } from "../load.js";
import { OPERATIONS } from "../operations.js";
import { startKeyward } from "../targets/keyward.js";
import { postToken } from "../targets/target.js";

const count = Number(process.argv[2] ?? 144_000);
if (!Number.isInteger(count) || count <= 0) throw new Error("TOKENS is a whole number of refresh tokens");
const revoke = OPERATIONS.find((operation) => operation.name === "revoke");
if (!revoke) throw new Error("the benchmark has no revocation operation");

const target = await startKeyward({ name: "keyward" });
try {
  await drive(target, await revoke.prepare(target, 40_000), 3, 50);
  const mintedAt = Date.now();
  const tokens = await target.mintRefreshTokens(count);
  process.stdout.write(`minted and settled ${count} refresh tokens in ${Date.now() - mintedAt} ms\n`);
  for (const [index, token] of tokens.slice(0, 5).entries()) {
    const startedAt = performance.now();
    const { status } = await postToken(target, target.paths.revoke, token);
    const ms = (performance.now() - startedAt).toFixed(1);
    process.stdout.write(`revocation ${index + 1}: ${status} in ${ms} ms\n`);
  }
} finally {
  await target.stop();
}
