/**
 * `npm run bench`: keyward, node-oidc-provider and a bare Fastify floor, each in its own process
 * and one at a time, under autocannon for the four Canva token-endpoint operations, `--rounds`
 * times. Prints one table and writes the same figures as JSON (bench/results/latest.json unless
 * --output says).
 */
import { loadavg } from "node:os";
import { describeCpuSteadiness, measureCpuSteadiness } from "./cpu-steadiness.js";
import { describeDiskSync, measureDiskSync } from "./disk-sync.js";
import { measureOperation } from "./measure.js";
import { OPERATIONS, type Operation } from "./operations.js";
import { type BenchOptions, parseOptions, type ServerFamily, USAGE } from "./options.js";
import { describeProblems, renderTable } from "./report.js";
import { writeResults } from "./results-file.js";
import { isValid, type RoundResult } from "./summary.js";
import { startFloor } from "./targets/floor.js";
import { startKeyward } from "./targets/keyward.js";
import { startOidcProvider } from "./targets/oidc.js";
import type { Target } from "./targets/target.js";

interface TargetSpec {
  family: ServerFamily;
  name: string;
  start(): Promise<Target>;
}

interface Skipped {
  name: string;
  reason: string;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

function targetSpecs(options: BenchOptions): TargetSpec[] {
  const nodeArgs = options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : undefined;
  const keyward = (name: string, variant: { postgresUrl?: string; workers?: number } = {}): TargetSpec => ({
    family: "keyward",
    name,
    start: () => startKeyward({ name, nodeArgs, ...variant }),
  });
  // keyward as shipped and the peer run back to back, so the ratio the goals are about compares
  // runs a few seconds apart; the variants follow.
  const specs: TargetSpec[] = [
    keyward("keyward"),
    { family: "oidc", name: "oidc-provider", start: startOidcProvider },
    { family: "floor", name: "floor", start: startFloor },
  ];
  if (options.postgresUrl) specs.push(keyward("keyward (pg)", { postgresUrl: options.postgresUrl }));
  if (options.workers) specs.push(keyward(`keyward (${options.workers} workers)`, { workers: options.workers }));
  return specs.filter((spec) => !options.only || options.only.has(spec.family));
}

/**
 * Measures one operation on one server, in a fresh server process, so each figure (peak RSS above
 * all) is independent of the runs before it. The server has the machine to itself meanwhile: only
 * the load generator runs beside it. Returns false when the server cannot start, so that it is
 * skipped from then on.
 */
async function measureOnce(
  spec: TargetSpec,
  operation: Operation,
  round: number,
  options: BenchOptions,
  run: { results: RoundResult[]; skipped: Skipped[]; servers: Map<string, string[]> },
): Promise<boolean> {
  const label = options.rounds > 1 ? `${spec.name} (round ${round})` : spec.name;
  log(`starting ${label} for ${operation.name}`);
  let target: Target;
  try {
    target = await spec.start();
  } catch (error) {
    const reason = (error as Error).message;
    log(`${spec.name}: skipped: ${reason}`);
    run.skipped.push({ name: spec.name, reason });
    return false;
  }
  if (!run.servers.has(spec.name)) run.servers.set(spec.name, target.notes);
  try {
    run.results.push({ ...(await measureOperation(target, operation, options)), round });
  } catch (error) {
    run.skipped.push({
      name: `${label} ${operation.name}`,
      reason: `failed: ${(error as Error).stack ?? error}`,
    });
    log(`${label} ${operation.name}: failed: ${(error as Error).message}`);
  } finally {
    await target.stop().catch((error) => log(`${spec.name}: stopping failed: ${(error as Error).message}`));
  }
  return true;
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  const diskSyncAtStart = measureDiskSync();
  const cpuAtStart = measureCpuSteadiness();
  const run = { results: [] as RoundResult[], skipped: [] as Skipped[], servers: new Map<string, string[]>() };
  const operations = OPERATIONS.filter((o) => !options.operations || options.operations.has(o.name));
  let specs = targetSpecs(options);
  // Operation by operation, every server in turn: the runs a ratio compares are close in time.
  for (let round = 1; round <= options.rounds; round++) {
    for (const operation of operations) {
      const started: TargetSpec[] = [];
      for (const spec of specs) {
        if (await measureOnce(spec, operation, round, options, run)) started.push(spec);
      }
      specs = started;
    }
  }
  const { results, skipped } = run;
  const diskSyncAtEnd = measureDiskSync();
  const cpuAtEnd = measureCpuSteadiness();
  const servers = [...run.servers].map(([name, notes]) => ({ name, notes }));

  const report = [
    renderTable(results),
    ...(results.every(isValid) ? [] : ["* not a valid figure: see below"]),
    ...describeProblems(results),
    ...skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
    ...servers.flatMap((s) => s.notes.map((note) => `${s.name}: ${note}`)),
    `load average (1, 5, 15 min) at start ${loadAverageAtStart.map((l) => l.toFixed(2)).join(", ")}, at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
    describeDiskSync("at start", diskSyncAtStart),
    describeDiskSync("at end", diskSyncAtEnd),
    describeCpuSteadiness("at start", cpuAtStart),
    describeCpuSteadiness("at end", cpuAtEnd),
  ];
  process.stdout.write(`\n${report.join("\n")}\n`);
  writeResults(options.output, {
    startedAt,
    loadAverageAtStart,
    diskSync: { atStart: diskSyncAtStart, atEnd: diskSyncAtEnd },
    cpuSteadiness: { atStart: cpuAtStart, atEnd: cpuAtEnd },
    options,
    servers,
    skipped,
    results,
  });
  log(`wrote ${options.output}`);
  return results.every(isValid) ? 0 : 1;
}

process.exitCode = await main();
