import type { OperationResult } from "./measure.js";

export interface Ratio {
  operation: string;
  server: string;
  /** Requests per second of this keyward variant divided by oidc-provider's, and by the floor's. */
  vsOidcProvider: number | null;
  vsFloor: number | null;
}

export function isValid(result: OperationResult): boolean {
  return (
    result.non2xx === 0 &&
    result.invalid === 0 &&
    result.errors === 0 &&
    result.timeouts === 0 &&
    !result.poolRanDry &&
    result.crash === undefined
  );
}

export function ratios(results: readonly OperationResult[]): Ratio[] {
  const rate = (operation: string, server: string) =>
    results.find((r) => r.operation === operation && r.server === server)?.requestsPerSecond;
  const divide = (a: number, b: number | undefined) => (b ? a / b : null);
  return results
    .filter((r) => r.server.startsWith("keyward"))
    .map((r) => ({
      operation: r.operation,
      server: r.server,
      vsOidcProvider: divide(r.requestsPerSecond, rate(r.operation, "oidc-provider")),
      vsFloor: divide(r.requestsPerSecond, rate(r.operation, "floor")),
    }));
}

const HEADINGS = [
  "operation",
  "server",
  "req/s",
  "p50 ms",
  "p99 ms",
  "peak RSS MiB",
  "server CPU %",
  "non-2xx",
  "other errors",
];
const RATIO_HEADINGS = ["keyward/oidc", "keyward/floor"];

function row(result: OperationResult, ratio: Ratio | undefined): string[] {
  const fixed = (value: number | null | undefined, digits: number) =>
    value === null || value === undefined ? "" : value.toFixed(digits);
  const others = result.invalid + result.errors + result.timeouts;
  const flag = isValid(result) ? "" : " *";
  return [
    result.operation,
    result.server,
    `${Math.round(result.requestsPerSecond)}${flag}`,
    fixed(result.p50Ms, 0),
    fixed(result.p99Ms, 0),
    fixed(result.peakRssBytes / 1024 / 1024, 0),
    fixed(result.serverCpuPercent, 0),
    String(result.non2xx),
    String(others),
    fixed(ratio?.vsOidcProvider, 2),
    fixed(ratio?.vsFloor, 2),
  ];
}

/** One table: every operation and server, with keyward's ratios to the peer and to the floor. */
export function renderTable(results: readonly OperationResult[]): string {
  const ratioList = ratios(results);
  const rows = results.map((r) =>
    row(
      r,
      ratioList.find((q) => q.operation === r.operation && q.server === r.server),
    ),
  );
  const table = [[...HEADINGS, ...RATIO_HEADINGS], ...rows];
  const widths = table[0]?.map((_, column) => Math.max(...table.map((cells) => (cells[column] ?? "").length))) ?? [];
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [line(table[0] ?? []), rule, ...rows.map(line)].join("\n");
}

export function describeProblems(results: readonly OperationResult[]): string[] {
  return results
    .filter((r) => !isValid(r))
    .map((r) => {
      const parts = [`${r.server} ${r.operation}: not a valid figure`];
      if (r.crash) parts.push(`server died: ${r.crash}`);
      if (r.poolRanDry) parts.push(`the pre-minted pool of ${r.poolSize} ran dry`);
      if (r.non2xx) parts.push(`${r.non2xx} non-2xx (${JSON.stringify(r.statusCodes)})`);
      if (r.invalid) parts.push(`${r.invalid} 2xx with a wrong body`);
      if (r.errors || r.timeouts) parts.push(`${r.errors} connection errors, ${r.timeouts} timeouts`);
      for (const failure of r.failures) parts.push(`  e.g. ${failure}`);
      return parts.join("\n  ");
    });
}
