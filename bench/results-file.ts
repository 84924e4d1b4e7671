import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname } from "node:path";
import type { CpuSteadiness } from "./cpu-steadiness.js";
import type { DiskSyncLatency } from "./disk-sync.js";
import type { BenchOptions } from "./options.js";
import { isValid, type RoundResult, ratios, summarize } from "./summary.js";

export interface RunRecord {
  startedAt: string;
  loadAverageAtStart: number[];
  /** What a small durable append cost before the first run and after the last. */
  diskSync: { atStart: DiskSyncLatency; atEnd: DiskSyncLatency };
  /** How steady one core's speed was before the first run and after the last. */
  cpuSteadiness: { atStart: CpuSteadiness; atEnd: CpuSteadiness };
  options: BenchOptions;
  servers: { name: string; notes: string[] }[];
  skipped: { name: string; reason: string }[];
  results: RoundResult[];
}

const withoutPassword = (url: string | undefined) => url?.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");

/** Writes the run as JSON: the same figures as the table, with what is needed to judge them. */
export function writeResults(path: string, run: RunRecord): void {
  const { options } = run;
  const document = {
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    arguments: process.argv.slice(2).map((arg) => withoutPassword(arg) ?? arg),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      totalMemoryBytes: totalmem(),
      loadAverageAtStart: run.loadAverageAtStart,
      loadAverageAtEnd: loadavg(),
      diskSync: run.diskSync,
      cpuSteadiness: run.cpuSteadiness,
      node: process.version,
    },
    options: {
      ...options,
      postgresUrl: withoutPassword(options.postgresUrl),
      only: options.only && [...options.only],
      operations: options.operations && [...options.operations],
    },
    servers: run.servers,
    skipped: run.skipped,
    /** The table: per operation and server, medians over the rounds (peak RSS: the highest). */
    summary: summarize(run.results),
    ratios: ratios(run.results),
    /** Every measured run, round by round. */
    results: run.results.map((result) => ({ ...result, valid: isValid(result) })),
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
}
