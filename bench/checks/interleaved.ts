/**
 * `node dist/bench/checks/interleaved.js [--operation revoke] [--runs 4] [--seconds 10] [--slice 1]`:
 * whether measuring keyward and oidc-provider in alternating slices gives a steadier ratio than
 * measuring each in one run after the other, as `npm run bench` does. Each run measures the ratio
 * both ways, in alternating order: one after the other (a fresh process each, a warm-up, then
 * `--seconds` of load), and interleaved (both processes live, each warmed up, then `--seconds` of
 * load per server cut into `--slice`-second slices that alternate between them). It prints every
 * run's two ratios, then how far each way's ratios spread over the runs. `--interleaved-only` skips
 * the runs one after the other.
 */
import { parseArgs } from "node:util";
import { runInterleaved, type Side, type SideFigures, slicesAreClean } from "../interleave.js";
import { drive } from "../load.js";
import { measureOperation, poolSize, warmUp } from "../measure.js";
import { OPERATIONS, type Operation } from "../operations.js";
import { OPERATION_NAMES } from "../options.js";
import { isValid, median } from "../summary.js";
import { startKeyward } from "../targets/keyward.js";
import { startOidcProvider } from "../targets/oidc.js";
import type { Target } from "../targets/target.js";

const CONNECTIONS = 50;
const WARMUP_SECONDS = 3;
const GAP_MS = 250;
// More than measure.ts allows: a pool that runs dry voids a whole interleaved run, not one retry.
const HEADROOM = 2.2;

const { values } = parseArgs({
  options: {
    operation: { type: "string", default: "revoke" },
    runs: { type: "string", default: "4" },
    seconds: { type: "string", default: "10" },
    slice: { type: "string", default: "1" },
    "interleaved-only": { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const seconds = Number(values.seconds);
const sliceSeconds = Number(values.slice);
const slices = Math.round(seconds / sliceSeconds);
const operation = OPERATIONS.find((candidate) => candidate.name === values.operation);
if (!operation) throw new Error(`--operation takes one of ${OPERATION_NAMES.join(", ")}`);
if (!Number.isInteger(runs) || runs <= 0 || !(sliceSeconds > 0) || slices < 2) {
  throw new Error("--runs takes a whole number, and --seconds must hold at least two --slice-second slices");
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const startBoth = () => Promise.all([startKeyward({ name: "keyward" }), startOidcProvider()]);

/** The benchmark's own method: one server after the other, each in a fresh process. */
async function sequentialRatio(op: Operation): Promise<number> {
  const rates: number[] = [];
  for (const start of [() => startKeyward({ name: "keyward" }), startOidcProvider]) {
    const target = await start();
    try {
      const result = await measureOperation(target, op, {
        seconds,
        warmupSeconds: WARMUP_SECONDS,
        connections: CONNECTIONS,
      });
      if (!isValid(result)) throw new Error(`${target.name}: failed requests or a crash, not a valid figure`);
      rates.push(result.requestsPerSecond);
    } finally {
      await target.stop();
    }
  }
  const [keyward = Number.NaN, peer = Number.NaN] = rates;
  return keyward / peer;
}

/**
 * A workload for every slice of one server. Consumed items are sized from the warm-up's rate;
 * refresh chains start afresh in every slice (a chain whose last response a slice's end cut off
 * cannot go on), so each slice takes a seed per connection.
 */
async function sideFor(target: Target, op: Operation): Promise<Side> {
  const sizeFor = (rate: number, over: number) => poolSize(op, CONNECTIONS, rate, over, HEADROOM);
  const rate = await warmUp(target, op, { seconds, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS }, (guess) =>
    sizeFor(guess, WARMUP_SECONDS),
  );
  const size = op.consumesPerRequest ? sizeFor(rate, seconds) : CONNECTIONS * (slices + 2);
  log(`${target.name} ${op.name}: preparing ${size} for ${slices} slices`);
  return { target, workload: await op.prepare(target, size) };
}

function assertValid(op: Operation, side: Side, figures: SideFigures): void {
  const crash = side.target.server.exitReason();
  if (crash) throw new Error(`${figures.name} crashed: ${crash}`);
  if (!slicesAreClean(figures)) throw new Error(`${figures.name}: failed requests, not a valid figure`);
  if (op.consumesPerRequest && side.workload.pool?.ranDryAt !== undefined) {
    throw new Error(`${figures.name}: its pool ran dry, not a valid figure`);
  }
}

async function interleavedRatio(
  op: Operation,
): Promise<{ ratio: number; sliceRatios: number[]; figures: SideFigures[] }> {
  const targets = await startBoth();
  try {
    const sides: [Side, Side] = [await sideFor(targets[0], op), await sideFor(targets[1], op)];
    log(`interleaving ${slices} slices of ${sliceSeconds} s`);
    const figures = await runInterleaved(sides, { slices, sliceSeconds, gapMs: GAP_MS }, (target, workload, s) =>
      drive(target, workload, s, CONNECTIONS),
    );
    for (const [index, side] of figures.entries()) assertValid(op, sides[index] as Side, side);
    const [keyward, peer] = figures;
    const sliceRate = (side: SideFigures, slice: number) =>
      (side.slices[slice]?.requests ?? Number.NaN) / (side.slices[slice]?.seconds ?? Number.NaN);
    const sliceRatios = keyward.slices.map((_, slice) => sliceRate(keyward, slice) / sliceRate(peer, slice));
    return { ratio: keyward.requestsPerSecond / peer.requestsPerSecond, sliceRatios, figures };
  } finally {
    await Promise.all(targets.map((target) => target.stop()));
  }
}

const spread = (ratios: number[]) => {
  const low = Math.min(...ratios);
  const high = Math.max(...ratios);
  return `median ${median(ratios)?.toFixed(2)}, from ${low.toFixed(2)} to ${high.toFixed(2)} (highest / lowest ${(high / low).toFixed(2)})`;
};

const sequential: number[] = [];
const interleaved: number[] = [];
for (let run = 1; run <= runs; run++) {
  // Alternate which way goes first, so that neither always meets the machine after the other.
  const ways = [
    async () => sequential.push(await sequentialRatio(operation)),
    async () => {
      const result = await interleavedRatio(operation);
      interleaved.push(result.ratio);
      const [keyward, peer] = result.figures;
      process.stdout.write(
        `run ${run} interleaved: keyward ${keyward?.requestsPerSecond.toFixed(0)}, oidc-provider ${peer?.requestsPerSecond.toFixed(0)} req/s; ` +
          `slice ratios ${spread(result.sliceRatios)}; CPU while idle: keyward ${keyward?.idleCpuPercent.toFixed(0)}%, oidc-provider ${peer?.idleCpuPercent.toFixed(0)}%\n`,
      );
    },
  ];
  if (values["interleaved-only"]) ways.shift();
  for (const way of run % 2 === 1 ? ways : ways.reverse()) await way();
  process.stdout.write(
    `run ${run} ${operation.name}: keyward / oidc-provider ${sequential.at(-1)?.toFixed(2) ?? "-"} one after the other, ${interleaved.at(-1)?.toFixed(2)} interleaved\n`,
  );
}
if (sequential.length > 0) process.stdout.write(`one after the other: ${spread(sequential)}\n`);
process.stdout.write(`interleaved: ${spread(interleaved)}\n`);
