import { isValid, type Ratio, type RoundResult, ratios, type SummaryRow, summarize } from "./summary.js";

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

const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined ? "" : value.toFixed(digits);

function row(summary: SummaryRow, ratio: Ratio | undefined): string[] {
  return [
    summary.operation,
    summary.server,
    `${Math.round(summary.requestsPerSecond)}${summary.valid ? "" : " *"}`,
    fixed(summary.p50Ms, 0),
    fixed(summary.p99Ms, 0),
    fixed(summary.peakRssBytes / 1024 / 1024, 0),
    fixed(summary.serverCpuPercent, 0),
    String(summary.non2xx),
    String(summary.otherErrors),
    fixed(ratio?.vsOidcProvider, 2),
    fixed(ratio?.vsFloor, 2),
  ];
}

/**
 * One table: every operation and server, with keyward's ratios to the peer and to the floor. With
 * several rounds, each figure is the median of the rounds (peak RSS the highest), and the lines
 * under the table give every round's ratios.
 */
export function renderTable(results: readonly RoundResult[]): string {
  const ratioList = ratios(results);
  const rows = summarize(results).map((summary) =>
    row(
      summary,
      ratioList.find((q) => q.operation === summary.operation && q.server === summary.server),
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
  const rounds = new Set(results.map((r) => r.round)).size;
  const perRound =
    rounds < 2
      ? []
      : [
          `${rounds} rounds: medians (peak RSS: the highest); keyward/oidc and keyward/floor in each round:`,
          ...ratioList.map(
            (q) =>
              `  ${q.operation} ${q.server}: ${q.vsOidcProviderByRound.map((v) => v.toFixed(2)).join(" ") || "-"} / ${
                q.vsFloorByRound.map((v) => v.toFixed(2)).join(" ") || "-"
              }`,
          ),
        ];
  return [line(table[0] ?? []), rule, ...rows.map(line), ...perRound].join("\n");
}

export function describeProblems(results: readonly RoundResult[]): string[] {
  return results
    .filter((r) => !isValid(r))
    .map((r) => {
      const parts = [`${r.server} ${r.operation} (round ${r.round}): not a valid figure`];
      if (r.crash) parts.push(`server died: ${r.crash}`);
      if (r.poolRanDry) parts.push(`the pre-minted pool of ${r.poolSize} ran dry`);
      if (r.non2xx) parts.push(`${r.non2xx} non-2xx (${JSON.stringify(r.statusCodes)})`);
      if (r.invalid) parts.push(`${r.invalid} 2xx with a wrong body`);
      if (r.errors || r.timeouts) parts.push(`${r.errors} connection errors, ${r.timeouts} timeouts`);
      for (const failure of r.failures) parts.push(`  e.g. ${failure}`);
      return parts.join("\n  ");
    });
}
