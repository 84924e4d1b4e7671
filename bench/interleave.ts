import type { LoadFigures } from "./load.js";
import type { Workload } from "./operations.js";
import { ProcessUsage, type Usage } from "./process-usage.js";
import { answeredAll } from "./summary.js";
import type { Target } from "./targets/target.js";

/** One of the two servers an interleaved run compares, with the workload it is driven with throughout. */
export interface Side {
  target: Target;
  workload: Workload;
}

export interface SideFigures {
  name: string;
  /** Responses over every slice, and the seconds the slices lasted. */
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Each slice's figures, in the order they ran. */
  slices: LoadFigures[];
  /**
   * CPU this server's processes used while the other one was measured, as a share of a core. Work
   * left over from its own slice (a checkpoint, a collection) lands in the other's slice; this shows how much.
   */
  idleCpuPercent: number;
}

export interface Slicing {
  slices: number;
  sliceSeconds: number;
  /** A pause between slices, so that work a slice leaves behind mostly finishes outside the next. */
  gapMs: number;
}

export type DriveSlice = (target: Target, workload: Workload, seconds: number) => Promise<LoadFigures>;
export type UsageMeter = (target: Target) => { start(): void; stop(): Usage };

const meterOf: UsageMeter = (target) => new ProcessUsage(() => target.server.pids());

/**
 * Which side runs first in each pair of slices: 0 1, 1 0, 0 1, ... Neither side always follows
 * the other, so a side that leaves work behind for whoever comes next does not always hand it to
 * the same one.
 */
export function sliceOrder(slices: number): Array<readonly [0 | 1, 0 | 1]> {
  return Array.from({ length: slices }, (_, slice) => (slice % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const)));
}

/**
 * Measures two live servers in short alternating slices instead of one long run each, so that a
 * burst of the machine's own slowness (a noisy neighbour, throttling) falls on both instead of on
 * whichever happened to be measured at the time. Only one server is driven at a time.
 */
export async function runInterleaved(
  sides: readonly [Side, Side],
  slicing: Slicing,
  driveSlice: DriveSlice,
  meter: UsageMeter = meterOf,
): Promise<[SideFigures, SideFigures]> {
  const figures = sides.map(({ target }) => ({ name: target.name, slices: [] as LoadFigures[], idleCpuSeconds: 0 }));
  for (const pair of sliceOrder(slicing.slices)) {
    for (const index of pair) {
      const side = sides[index];
      const idle = sides[1 - index];
      if (!side || !idle) throw new Error("runInterleaved takes two sides");
      const idleUsage = meter(idle.target);
      idleUsage.start();
      const slice = await driveSlice(side.target, side.workload, slicing.sliceSeconds);
      const idleFigures = figures[1 - index];
      if (idleFigures) idleFigures.idleCpuSeconds += (idleUsage.stop().cpuPercent / 100) * slice.seconds;
      figures[index]?.slices.push(slice);
      await new Promise((resolve) => setTimeout(resolve, slicing.gapMs));
    }
  }
  const [first, second] = figures.map((side, index): SideFigures => {
    const requests = side.slices.reduce((sum, slice) => sum + slice.requests, 0);
    const seconds = side.slices.reduce((sum, slice) => sum + slice.seconds, 0);
    const otherSeconds = figures[1 - index]?.slices.reduce((sum, slice) => sum + slice.seconds, 0) ?? 0;
    return {
      name: side.name,
      requests,
      seconds,
      requestsPerSecond: seconds > 0 ? requests / seconds : 0,
      slices: side.slices,
      idleCpuPercent: otherSeconds > 0 ? (100 * side.idleCpuSeconds) / otherSeconds : 0,
    };
  });
  if (!first || !second) throw new Error("runInterleaved takes two sides");
  return [first, second];
}

/** Whether every slice answered every request as the operation must. */
export function slicesAreClean(side: SideFigures): boolean {
  return side.slices.every(answeredAll);
}
