import type { LoadFigures } from "./load.js";
import type { OperationResult } from "./measure.js";

/** One measured run of one operation on one server, in one round of the benchmark. */
export interface RoundResult extends OperationResult {
  round: number;
}

/** Whether a run got an answer to every request, and each answer was what the operation must answer. */
export function answeredAll(figures: LoadFigures): boolean {
  return figures.non2xx === 0 && figures.invalid === 0 && figures.errors === 0 && figures.timeouts === 0;
}

export function isValid(result: OperationResult): boolean {
  return answeredAll(result) && !result.poolRanDry && result.crash === undefined;
}

/** One operation on one server over every round: medians, except peak RSS, which is the highest. */
export interface SummaryRow {
  operation: string;
  server: string;
  rounds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  peakRssBytes: number;
  serverCpuPercent: number;
  non2xx: number;
  /** Wrong bodies, connection errors and timeouts, over every round. */
  otherErrors: number;
  valid: boolean;
}

export interface Ratio {
  operation: string;
  server: string;
  /**
   * Requests per second of this keyward variant divided by oidc-provider's (or the floor's) in the
   * same round, one figure per round where both ran; the median of those is what the table shows.
   */
  vsOidcProviderByRound: number[];
  vsFloorByRound: number[];
  vsOidcProvider: number | null;
  vsFloor: number | null;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Groups results by operation and server, in the order each pair first appears. */
function groups(results: readonly RoundResult[]): RoundResult[][] {
  const byKey = new Map<string, RoundResult[]>();
  for (const result of results) {
    const key = `${result.operation}\u0000${result.server}`;
    const group = byKey.get(key);
    if (group) group.push(result);
    else byKey.set(key, [result]);
  }
  return [...byKey.values()];
}

export function summarize(results: readonly RoundResult[]): SummaryRow[] {
  return groups(results).map((group) => {
    const first = group[0] as RoundResult;
    const mid = (pick: (r: RoundResult) => number) => median(group.map(pick)) ?? 0;
    const sum = (pick: (r: RoundResult) => number) => group.reduce((total, r) => total + pick(r), 0);
    return {
      operation: first.operation,
      server: first.server,
      rounds: group.length,
      requestsPerSecond: mid((r) => r.requestsPerSecond),
      p50Ms: mid((r) => r.p50Ms),
      p99Ms: mid((r) => r.p99Ms),
      peakRssBytes: Math.max(...group.map((r) => r.peakRssBytes)),
      serverCpuPercent: mid((r) => r.serverCpuPercent),
      non2xx: sum((r) => r.non2xx),
      otherErrors: sum((r) => r.invalid + r.errors + r.timeouts),
      valid: group.every(isValid),
    };
  });
}

/**
 * keyward's rate over the peer's and the floor's, paired round by round: the servers of one round
 * run one after another, so a drift of the machine's speed between rounds cancels out of each pair.
 */
export function ratios(results: readonly RoundResult[]): Ratio[] {
  const rate = (operation: string, server: string, round: number) =>
    results.find((r) => r.operation === operation && r.server === server && r.round === round)?.requestsPerSecond;
  return groups(results.filter((r) => r.server.startsWith("keyward"))).map((group) => {
    const first = group[0] as RoundResult;
    const pairedWith = (peer: string) =>
      group.flatMap((r) => {
        const other = rate(r.operation, peer, r.round);
        return other ? [r.requestsPerSecond / other] : [];
      });
    const vsOidcProviderByRound = pairedWith("oidc-provider");
    const vsFloorByRound = pairedWith("floor");
    return {
      operation: first.operation,
      server: first.server,
      vsOidcProviderByRound,
      vsFloorByRound,
      vsOidcProvider: median(vsOidcProviderByRound),
      vsFloor: median(vsFloorByRound),
    };
  });
}
