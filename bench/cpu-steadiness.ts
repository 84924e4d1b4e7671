import { createHash } from "node:crypto";
import { percentile } from "./disk-sync.js";

export interface CpuSteadiness {
  seconds: number;
  /** How many times the fixed task ran. */
  samples: number;
  p10Ms: number;
  p50Ms: number;
  p90Ms: number;
}

const BLOCK = Buffer.alloc(64);

/**
 * A fixed piece of CPU work of the kinds a token request does (JIT-compiled arithmetic and SHA-256
 * of small blocks), about 35 ms on an unloaded core of the benchmark's usual VM. It touches no
 * memory to speak of and makes no system call, so only the core's speed moves its time.
 */
export function fixedTask(): number {
  let mixed = 0;
  for (let i = 0; i < 2_000_000; i++) mixed = (mixed * 31 + i) | 0;
  for (let i = 0; i < 20_000; i++) mixed ^= createHash("sha256").update(BLOCK).digest()[0] as number;
  return mixed;
}

/** Each run's milliseconds, running the fixed task for `seconds` after a warm-up. */
export function timeFixedTask(seconds: number): number[] {
  for (let i = 0; i < 10; i++) fixedTask();
  const took: number[] = [];
  const end = Date.now() + seconds * 1000;
  do {
    const started = process.hrtime.bigint();
    fixedTask();
    took.push(Number(process.hrtime.bigint() - started) / 1e6);
  } while (Date.now() < end);
  return took;
}

export function summarizeSteadiness(took: readonly number[], seconds: number): CpuSteadiness {
  const sorted = [...took].sort((a, b) => a - b);
  return {
    seconds,
    samples: sorted.length,
    p10Ms: percentile(sorted, 0.1),
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
  };
}

/**
 * How steady the speed of one core of this machine is: the same task timed again and again. On a
 * shared VM a core's speed can drift by half or double within seconds (other tenants on the host's
 * core); a run's ratios are then as uncertain as the spread, which this figure, printed beside the
 * table, shows. The benchmark is idle meanwhile.
 */
export function measureCpuSteadiness(seconds = 3): CpuSteadiness {
  return summarizeSteadiness(timeFixedTask(seconds), seconds);
}

export function describeCpuSteadiness(when: string, steadiness: CpuSteadiness): string {
  const ms = (value: number) => value.toFixed(1);
  const spread = steadiness.p90Ms / steadiness.p10Ms;
  return (
    `core speed ${when} (a fixed task, ${steadiness.samples} times in ${steadiness.seconds} s): ` +
    `p10 ${ms(steadiness.p10Ms)} ms, p50 ${ms(steadiness.p50Ms)} ms, p90 ${ms(steadiness.p90Ms)} ms (p90/p10 ${spread.toFixed(2)})`
  );
}
