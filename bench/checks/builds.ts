/**
 * `node dist/bench/checks/builds.js --other DIR [--operation revoke] [--runs 3] [--seconds 20] [--slice 1] [--pg URL]`:
 * keyward as built here against keyward as built in another checkout (`DIR`, with `npm install` and
 * `npx tsc` run there; a `git worktree` of an earlier commit, say), on the same load. In each run
 * both servers are live and driven in alternating slices (see runInterleaved), so that the drift
 * of a shared machine, which moves single runs by a third, falls on both builds alike. Prints each
 * run's rates and CPU per request, and the median ratio of this build's rate to the other's.
 * Both servers' fixtures are minted by this build's store: the two builds must share the schema.
 * With `--pg`, both run on PostgreSQL at URL, each in a schema of its own made for the run.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { runInterleaved, type Side, type SideFigures } from "../interleave.js";
import { assertCleanSide, prepareSide, SIDE_CONNECTIONS, SLICE_GAP_MS, slicingOf } from "../interleave-sides.js";
import { drive } from "../load.js";
import { OPERATIONS } from "../operations.js";
import { OPERATION_NAMES } from "../options.js";
import { ProcessUsage } from "../process-usage.js";
import { median } from "../summary.js";
import { startKeyward } from "../targets/keyward.js";
import type { Target } from "../targets/target.js";

const { values } = parseArgs({
  options: {
    other: { type: "string" },
    operation: { type: "string", default: "revoke" },
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "20" },
    slice: { type: "string", default: "1" },
    pg: { type: "string" },
  },
});
const runs = Number(values.runs);
const { seconds, sliceSeconds, slices } = slicingOf(values.seconds, values.slice);
const operation = OPERATIONS.find((candidate) => candidate.name === values.operation);
if (!values.other) throw new Error("--other takes the directory of another built checkout of keyward");
if (!operation) throw new Error(`--operation takes one of ${OPERATION_NAMES.join(", ")}`);
if (!Number.isInteger(runs) || runs <= 0) throw new Error("--runs takes a whole number");
const other = resolve(values.other);
const log = (message: string) => process.stderr.write(`${message}\n`);

/** Drives a slice while metering the driven server's CPU, added up per server. */
function meteredDrive(cpuSeconds: Map<string, number>) {
  return async (target: Target, workload: Side["workload"], sliceLength: number) => {
    const usage = new ProcessUsage(() => target.server.pids());
    usage.start();
    const figures = await drive(target, workload, sliceLength, SIDE_CONNECTIONS);
    const { cpuPercent } = usage.stop();
    cpuSeconds.set(target.name, (cpuSeconds.get(target.name) ?? 0) + (cpuPercent / 100) * figures.seconds);
    return figures;
  };
}

const ratios: number[] = [];
for (let run = 1; run <= runs; run++) {
  // Alternate which build is prepared and driven first.
  const order = run % 2 === 1 ? (["this", "other"] as const) : (["other", "this"] as const);
  const targets = await Promise.all(
    order.map((name) =>
      startKeyward({ name, postgresUrl: values.pg, ...(name === "other" ? { checkout: other } : {}) }),
    ),
  );
  try {
    const sideOptions = { seconds, slices, log };
    const sides: [Side, Side] = [
      await prepareSide(targets[0] as Target, operation, sideOptions),
      await prepareSide(targets[1] as Target, operation, sideOptions),
    ];
    const cpuSeconds = new Map<string, number>();
    const figures = await runInterleaved(
      sides,
      { slices, sliceSeconds, gapMs: SLICE_GAP_MS },
      meteredDrive(cpuSeconds),
    );
    for (const [index, side] of figures.entries()) assertCleanSide(operation, sides[index] as Side, side);
    const byName = (name: string) => figures.find((side) => side.name === name) as SideFigures;
    const describe = (side: SideFigures) =>
      `${side.name} ${side.requestsPerSecond.toFixed(0)} req/s, ${((1e6 * (cpuSeconds.get(side.name) ?? 0)) / side.requests).toFixed(0)} µs CPU a request`;
    const ratio = byName("this").requestsPerSecond / byName("other").requestsPerSecond;
    ratios.push(ratio);
    process.stdout.write(
      `run ${run} ${operation.name}: ${describe(byName("this"))}; ${describe(byName("other"))}; this / other ${ratio.toFixed(3)}\n`,
    );
  } finally {
    await Promise.all(targets.map((target) => target.stop()));
  }
}
process.stdout.write(
  `this / other over ${runs} runs: median ${median(ratios)?.toFixed(3)}, from ${Math.min(...ratios).toFixed(3)} to ${Math.max(...ratios).toFixed(3)}\n`,
);
