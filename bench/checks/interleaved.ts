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
import { runInterleaved, type Side, type SideFigures } from "../interleave.js";
import { assertCleanSide, prepareSide, SIDE_CONNECTIONS, SLICE_GAP_MS, slicingOf } from "../interleave-sides.js";
import { drive } from "../load.js";
import { measureOperation } from "../measure.js";
import { OPERATIONS, type Operation } from "../operations.js";
import { OPERATION_NAMES } from "../options.js";
import { isValid, median } from "../summary.js";
import { startKeyward } from "../targets/keyward.js";
import { startOidcProvider } from "../targets/oidc.js";
import type { Target } from "../targets/target.js";

/** The warm-up of the runs one after the other, as `npm run bench` gives by default. */
const WARMUP_SECONDS = 3;

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
const { seconds, sliceSeconds, slices } = slicingOf(values.seconds, values.slice);
const operation = OPERATIONS.find((candidate) => candidate.name === values.operation);
if (!operation) throw new Error(`--operation takes one of ${OPERATION_NAMES.join(", ")}`);
if (!Number.isInteger(runs) || runs <= 0) throw new Error("--runs takes a whole number");

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
        connections: SIDE_CONNECTIONS,
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

const sideFor = (target: Target, op: Operation) => prepareSide(target, op, { seconds, slices, log });

async function interleavedRatio(
  op: Operation,
): Promise<{ ratio: number; sliceRatios: number[]; figures: SideFigures[] }> {
  const targets = await startBoth();
  try {
    const sides: [Side, Side] = [await sideFor(targets[0], op), await sideFor(targets[1], op)];
    log(`interleaving ${slices} slices of ${sliceSeconds} s`);
    const figures = await runInterleaved(sides, { slices, sliceSeconds, gapMs: SLICE_GAP_MS }, (target, workload, s) =>
      drive(target, workload, s, SIDE_CONNECTIONS),
    );
    for (const [index, side] of figures.entries()) assertCleanSide(op, sides[index] as Side, side);
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
