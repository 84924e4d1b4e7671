import { type Side, type SideFigures, slicesAreClean } from "./interleave.js";
import { poolSize, warmUp } from "./measure.js";
import type { Operation } from "./operations.js";
import type { Target } from "./targets/target.js";

/** The load each side is driven with, in the checks that interleave two servers. */
export const SIDE_CONNECTIONS = 50;
/** A pause between slices (see Slicing). */
export const SLICE_GAP_MS = 250;
const WARMUP_SECONDS = 3;
/** More than measure.ts allows: a pool that runs dry voids a whole interleaved run, not one retry. */
const HEADROOM = 2.2;

export interface SideOptions {
  /** Seconds of load the side gets over all its slices. */
  seconds: number;
  slices: number;
  log: (message: string) => void;
}

/** `--seconds` of load cut into `--slice`-second slices, as the interleaving checks take them. */
export function slicingOf(secondsText: string | undefined, sliceText: string | undefined) {
  const seconds = Number(secondsText);
  const sliceSeconds = Number(sliceText);
  const slices = Math.round(seconds / sliceSeconds);
  if (!(sliceSeconds > 0) || !(slices >= 2)) throw new Error("--seconds must hold at least two --slice-second slices");
  return { seconds, sliceSeconds, slices };
}

/**
 * Warms `target` up and prepares a workload for every slice of it. Consumed items are sized from
 * the warm-up's rate; refresh chains start afresh in every slice (a chain whose last response a
 * slice's end cut off cannot go on), so each slice takes a seed per connection.
 */
export async function prepareSide(target: Target, op: Operation, options: SideOptions): Promise<Side> {
  const { seconds, slices } = options;
  const sizeFor = (rate: number, over: number) => poolSize(op, SIDE_CONNECTIONS, rate, over, HEADROOM);
  const rate = await warmUp(
    target,
    op,
    { seconds, warmupSeconds: WARMUP_SECONDS, connections: SIDE_CONNECTIONS },
    (guess) => sizeFor(guess, WARMUP_SECONDS),
  );
  const size = op.consumesPerRequest ? sizeFor(rate, seconds) : SIDE_CONNECTIONS * (slices + 2);
  options.log(`${target.name} ${op.name}: preparing ${size} for ${slices} slices`);
  return { target, workload: await op.prepare(target, size) };
}

/** Throws unless the side stayed up, answered every request as it must and never ran out of items. */
export function assertCleanSide(op: Operation, side: Side, figures: SideFigures): void {
  const crash = side.target.server.exitReason();
  if (crash) throw new Error(`${figures.name} crashed: ${crash}`);
  if (!slicesAreClean(figures)) throw new Error(`${figures.name}: failed requests, not a valid figure`);
  if (op.consumesPerRequest && side.workload.pool?.ranDryAt !== undefined) {
    throw new Error(`${figures.name}: its pool ran dry, not a valid figure`);
  }
}
