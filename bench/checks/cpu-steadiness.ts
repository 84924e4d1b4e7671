/**
 * `node dist/bench/checks/cpu-steadiness.js [SECONDS]`: how steady each core of this machine is,
 * and whether the cores slow down together. One process per core (pinned with taskset where it is
 * installed) runs the benchmark's fixed task (bench/cpu-steadiness.ts) for SECONDS (20), all at
 * once; each reports its times and how many tasks it finished in every half second. Prints each
 * core's p10/p50/p90 and the correlation of the cores' half-second counts: near 1, the machine as a
 * whole changes speed and a ratio of runs measured at the same time would cancel it; near 0, each
 * core drifts on its own.
 */
import { execFileSync, spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { describeCpuSteadiness, fixedTask, summarizeSteadiness } from "../cpu-steadiness.js";

const SLOT_MS = 500;

interface CoreReport {
  took: number[];
  perSlot: number[];
}

/** In a child: waits for the shared start, then runs the task in half-second slots. */
function runAsChild(startAt: number, seconds: number): void {
  for (let i = 0; i < 10; i++) fixedTask();
  while (Date.now() < startAt) {}
  const took: number[] = [];
  const perSlot: number[] = [];
  for (let slot = 0; slot < (seconds * 1000) / SLOT_MS; slot++) {
    const slotEnd = startAt + (slot + 1) * SLOT_MS;
    let finished = 0;
    while (Date.now() < slotEnd) {
      const started = process.hrtime.bigint();
      fixedTask();
      took.push(Number(process.hrtime.bigint() - started) / 1e6);
      finished++;
    }
    perSlot.push(finished);
  }
  process.stdout.write(JSON.stringify({ took, perSlot } satisfies CoreReport));
}

function correlation(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const mean = (v: readonly number[]) => v.slice(0, n).reduce((sum, x) => sum + x, 0) / n;
  const [ma, mb] = [mean(a), mean(b)];
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const [da, db] = [(a[i] as number) - ma, (b[i] as number) - mb];
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return ab / Math.sqrt(aa * bb);
}

function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function runCore(core: number, pinned: boolean, startAt: number, seconds: number): Promise<CoreReport> {
  const script = fileURLToPath(import.meta.url);
  const node = [process.execPath, script, "--child", String(startAt), String(seconds)];
  const [command, ...args] = pinned ? ["taskset", "-c", String(core), ...node] : node;
  return new Promise((resolveReport, reject) => {
    const child = spawn(command as string, args, { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolveReport(JSON.parse(output)) : reject(new Error(`core ${core}: exit ${code}`)),
    );
  });
}

if (process.argv[2] === "--child") {
  runAsChild(Number(process.argv[3]), Number(process.argv[4]));
} else {
  const seconds = Number(process.argv[2] ?? 20);
  if (!(seconds >= 1)) throw new Error("SECONDS takes a number of at least 1");
  const cores = availableParallelism();
  const pinned = hasTaskset();
  // Long enough for every child to start and warm up before the shared start.
  const startAt = Date.now() + 3000;
  const reports = await Promise.all(
    Array.from({ length: cores }, (_, core) => runCore(core, pinned, startAt, seconds)),
  );
  reports.forEach((report, core) => {
    const label = pinned ? `on core ${core}` : `in process ${core + 1} of ${cores}`;
    process.stdout.write(`${describeCpuSteadiness(label, summarizeSteadiness(report.took, seconds))}\n`);
    const counts = report.perSlot;
    process.stdout.write(`  tasks per half second: ${counts.join(" ")}\n`);
  });
  for (let a = 0; a < reports.length; a++) {
    for (let b = a + 1; b < reports.length; b++) {
      const r = correlation((reports[a] as CoreReport).perSlot, (reports[b] as CoreReport).perSlot);
      process.stdout.write(`correlation of the half-second counts, ${a} and ${b}: ${r.toFixed(2)}\n`);
    }
  }
}
