/**
 * `node dist/bench/checks/revocation-ceiling.js [--rounds N] [--duration S]`: how fast keyward's
 * revocations could be if their writes cost nothing. Each round measures the revocation load (as
 * `npm run bench` does: 50 connections, a warm-up, fresh refresh tokens) on keyward as shipped, on
 * keyward with every revocation's transaction skipped (skip-revocation-writes.ts), and on
 * oidc-provider, one after another, and prints each round's rates and ratios, then their medians.
 * Before its figures count, the skipping server must show it wrote nothing: a refresh token it
 * revoked still introspects as active.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { measureOperation } from "../measure.js";
import { OPERATIONS } from "../operations.js";
import { median } from "../summary.js";
import { startKeyward } from "../targets/keyward.js";
import { startOidcProvider } from "../targets/oidc.js";
import type { Target } from "../targets/target.js";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, duration: { type: "string", default: "10" } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.duration);
if (!Number.isInteger(rounds) || rounds <= 0 || !(seconds > 0)) {
  throw new Error("--rounds takes a whole number and --duration a positive number of seconds");
}
const revoke = OPERATIONS.find((operation) => operation.name === "revoke");
if (!revoke) throw new Error("the benchmark has no revocation operation");

const SKIP_WRITES = pathToFileURL(resolve(import.meta.dirname, "skip-revocation-writes.js")).href;

async function post(target: Target, path: string, token: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${target.server.url}${path}`, {
    method: "POST",
    headers: { authorization: target.authorization, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: response.status, body: await response.text() };
}

/** Throws unless a refresh token the target revoked (with a 200) still introspects as active. */
async function assertRevocationsWriteNothing(target: Target): Promise<void> {
  const [token = ""] = await target.mintRefreshTokens(1);
  const revoked = await post(target, target.paths.revoke, token);
  const after = await post(target, target.paths.introspect, token);
  if (revoked.status !== 200 || !after.body.includes('"active":true')) {
    throw new Error(`revocations were not skipped: revoke ${revoked.status}, then introspect ${after.body}`);
  }
}

const servers: Array<[string, () => Promise<Target>]> = [
  ["keyward", () => startKeyward({ name: "keyward" })],
  ["keyward, writes skipped", () => startKeyward({ name: "keyward", nodeArgs: [`--import=${SKIP_WRITES}`] })],
  ["oidc-provider", () => startOidcProvider()],
];
const rates = new Map<string, number[]>(servers.map(([name]) => [name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const [name, start] of servers) {
    const target = await start();
    try {
      const result = await measureOperation(target, revoke, { seconds, warmupSeconds: 3, connections: 50 });
      const failed = result.non2xx + result.invalid + result.errors + result.timeouts;
      if (failed > 0 || result.poolRanDry) throw new Error(`${name}: ${failed} failed requests, not a valid figure`);
      if (name.includes("skipped")) await assertRevocationsWriteNothing(target);
      rates.get(name)?.push(Math.round(result.requestsPerSecond));
    } finally {
      await target.stop();
    }
  }
  const [shipped = 0, skipped = 0, peer = 0] = servers.map(([name]) => rates.get(name)?.[round - 1] ?? 0);
  process.stdout.write(
    `round ${round}: keyward ${shipped}, writes skipped ${skipped}, oidc-provider ${peer} req/s; ` +
      `over oidc-provider ${(shipped / peer).toFixed(2)} and ${(skipped / peer).toFixed(2)}\n`,
  );
}
const ratioMedian = (name: string) => {
  const own = rates.get(name) ?? [];
  const peer = rates.get("oidc-provider") ?? [];
  return median(own.map((rate, i) => rate / (peer[i] ?? Number.NaN)))?.toFixed(2);
};
process.stdout.write(
  `median over oidc-provider: keyward ${ratioMedian("keyward")}, writes skipped ${ratioMedian("keyward, writes skipped")}\n`,
);
