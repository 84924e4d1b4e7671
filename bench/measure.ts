import { drive, type LoadFigures } from "./load.js";
import type { Operation, OperationName, Workload } from "./operations.js";
import { ProcessUsage } from "./process-usage.js";
import type { Target } from "./targets/target.js";

export interface MeasureOptions {
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

export interface OperationResult extends LoadFigures {
  operation: OperationName;
  server: string;
  peakRssBytes: number;
  serverCpuPercent: number;
  /** Pre-minted items for the measured run, and whether it used them all up. */
  poolSize: number;
  poolRanDry: boolean;
  attempts: number;
  /** Set when the server process died during the run. */
  crash?: string;
}

/** A first guess at how many items a warm-up consumes per second, before any rate is known. */
const WARMUP_RATE_GUESS = 1500;
const HEADROOM = 1.6;
const MAX_ATTEMPTS = 3;
/** How much faster than the fastest rate seen so far a retry's pool allows for. */
const RETRY_GROWTH = 1.3;

const log = (message: string) => process.stderr.write(`${message}\n`);

/** Items per second a run drew from its pool, up to the moment the pool ran dry. */
function consumptionRate(workload: Workload, startedAt: number, figures: LoadFigures): number {
  const pool = workload.pool;
  if (!pool) return 0;
  const seconds = ((pool.ranDryAt ?? startedAt + figures.seconds * 1000) - startedAt) / 1000;
  return pool.taken / Math.max(seconds, 0.1);
}

async function timedDrive(target: Target, workload: Workload, seconds: number, connections: number) {
  const startedAt = Date.now();
  const figures = await drive(target, workload, seconds, connections);
  return { figures, rate: consumptionRate(workload, startedAt, figures) };
}

/**
 * Warms up, and returns the rate at which the warm server draws from a pool. A warm-up whose pool
 * ran dry stopped warming when it did, and its rate is the cold server's; it is run again with a
 * pool sized from that rate. Sizing the measured pool from a cold rate made it run dry, and the
 * retry's larger pool grew the database (and keyward's RSS) well beyond what the measurement needs.
 */
export async function warmUp(
  target: Target,
  operation: Operation,
  options: MeasureOptions,
  poolFor: (rate: number) => number,
): Promise<number> {
  let rate = 0;
  for (let attempt = 1; ; attempt++) {
    log(`${target.name} ${operation.name}: warming up for ${options.warmupSeconds} s`);
    const workload = await operation.prepare(target, poolFor(Math.max(rate, WARMUP_RATE_GUESS)));
    const run = await timedDrive(target, workload, options.warmupSeconds, options.connections);
    rate = Math.max(rate, run.rate);
    if (workload.pool?.ranDryAt === undefined || attempt === MAX_ATTEMPTS) return rate;
  }
}

/**
 * How many items to mint for `seconds` of `operation` at `rate` requests a second. Single-use items
 * get `headroom` over the rate; otherwise a few per connection (refresh chains' seeds).
 */
export function poolSize(
  operation: Operation,
  connections: number,
  rate: number,
  seconds: number,
  headroom = HEADROOM,
) {
  return operation.consumesPerRequest ? Math.ceil(rate * seconds * headroom) + connections * 4 : connections * 3;
}

/**
 * Warms up, then measures one operation on one target. Single-use pools are sized from the
 * warm-up's rate with headroom; a run that still drains its pool is repeated with a larger one.
 */
export async function measureOperation(
  target: Target,
  operation: Operation,
  options: MeasureOptions,
): Promise<OperationResult> {
  const { connections } = options;
  const sizeFor = (rate: number, seconds: number) => poolSize(operation, connections, rate, seconds);

  let rate = await warmUp(target, operation, options, (guess) => sizeFor(guess, options.warmupSeconds));

  for (let attempt = 1; ; attempt++) {
    const poolSize = sizeFor(rate, options.seconds);
    if (operation.consumesPerRequest) log(`${target.name} ${operation.name}: minting ${poolSize}`);
    const workload = await operation.prepare(target, poolSize);
    const usage = new ProcessUsage(() => target.server.pids());
    log(`${target.name} ${operation.name}: measuring for ${options.seconds} s`);
    usage.start();
    const run = await timedDrive(target, workload, options.seconds, connections);
    const { peakRssBytes, cpuPercent } = usage.stop();
    const poolRanDry = operation.consumesPerRequest && workload.pool?.ranDryAt !== undefined;
    const crash = target.server.exitReason();
    if (!poolRanDry || crash || attempt === MAX_ATTEMPTS) {
      return {
        ...run.figures,
        operation: operation.name,
        server: target.name,
        peakRssBytes,
        serverCpuPercent: cpuPercent,
        poolSize,
        poolRanDry,
        attempts: attempt,
        crash,
      };
    }
    log(`${target.name} ${operation.name}: the pool of ${poolSize} ran dry; measuring again with a larger one`);
    rate = Math.max(rate, run.rate) * RETRY_GROWTH;
  }
}
