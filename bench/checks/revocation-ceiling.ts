/**
 * `node dist/bench/checks/revocation-ceiling.js [--rounds N] [--duration S]`: how fast keyward's
 * revocations could be if their writes cost less. Each round measures the revocation load (as
 * `npm run bench` does: 50 connections, a warm-up, fresh refresh tokens) on keyward as shipped, on
 * keyward with every revocation's write emptied of its statements
 * (empty-revocation-writes.ts), on keyward with every revocation's write skipped
 * (skip-revocation-writes.ts), and on oidc-provider, one after another, and prints each round's
 * rates and ratios, then their medians. Before their figures count, both changed servers must show
 * they revoked nothing: a refresh token they revoked still introspects as active.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { measureOperation } from "../measure.js";
import { OPERATIONS } from "../operations.js";
import { isValid, median } from "../summary.js";
import { startKeyward } from "../targets/keyward.js";
import { startOidcProvider } from "../targets/oidc.js";
import { postToken, type Target } from "../targets/target.js";

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

const preload = (file: string) => `--import=${pathToFileURL(resolve(import.meta.dirname, file)).href}`;

/** Throws unless a refresh token the target revoked (with a 200) still introspects as active. */
async function assertRevocationsWriteNothing(target: Target): Promise<void> {
  const [token = ""] = await target.mintRefreshTokens(1);
  const revoked = await postToken(target, target.paths.revoke, token);
  const after = await postToken(target, target.paths.introspect, token);
  if (revoked.status !== 200 || !after.body.includes('"active":true')) {
    throw new Error(`revocations were not skipped: revoke ${revoked.status}, then introspect ${after.body}`);
  }
}

interface Server {
  name: string;
  start(): Promise<Target>;
  /** Whether the server's revocations revoke nothing, which it must show before its figures count. */
  skipsWrites: boolean;
  /** Requests per second, one per round. */
  rates: number[];
}

const servers: Server[] = [
  { name: "keyward", start: () => startKeyward({ name: "keyward" }), skipsWrites: false, rates: [] },
  {
    name: "empty writes",
    start: () => startKeyward({ name: "keyward", nodeArgs: [preload("empty-revocation-writes.js")] }),
    skipsWrites: true,
    rates: [],
  },
  {
    name: "writes skipped",
    start: () => startKeyward({ name: "keyward", nodeArgs: [preload("skip-revocation-writes.js")] }),
    skipsWrites: true,
    rates: [],
  },
  { name: "oidc-provider", start: () => startOidcProvider(), skipsWrites: false, rates: [] },
];
const keywards = servers.slice(0, 3);
const peer = servers[3] as Server;
const overPeer = (server: Server, round: number) =>
  (server.rates[round] ?? Number.NaN) / (peer.rates[round] ?? Number.NaN);

for (let round = 0; round < rounds; round++) {
  for (const server of servers) {
    const target = await server.start();
    try {
      const result = await measureOperation(target, revoke, { seconds, warmupSeconds: 3, connections: 50 });
      if (!isValid(result)) throw new Error(`${server.name}: failed requests or a crash, not a valid figure`);
      if (server.skipsWrites) await assertRevocationsWriteNothing(target);
      server.rates.push(Math.round(result.requestsPerSecond));
    } finally {
      await target.stop();
    }
  }
  const rates = servers.map((server) => `${server.name} ${server.rates[round]}`).join(", ");
  const ratios = keywards.map((server) => overPeer(server, round).toFixed(2)).join(", ");
  process.stdout.write(`round ${round + 1}: ${rates} req/s; over oidc-provider ${ratios}\n`);
}
const medianOverPeer = (server: Server) => median(server.rates.map((_, round) => overPeer(server, round)))?.toFixed(2);
const medians = keywards.map((server) => `${server.name} ${medianOverPeer(server)}`).join(", ");
process.stdout.write(`median over oidc-provider: ${medians}\n`);
