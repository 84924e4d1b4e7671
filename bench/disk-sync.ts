import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PAGE_BYTES = 4096;

export interface DiskSyncLatency {
  directory: string;
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

/** The value at fraction `share` of the sorted values (nearest rank). */
export function percentile(sorted: readonly number[], share: number): number {
  if (sorted.length === 0) throw new Error("no values");
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(share * sorted.length)));
  return sorted[rank - 1] as number;
}

/**
 * How long the disk under `directory` takes to make a small append durable. keyward on SQLite
 * answers a write only after such a sync of its WAL (group commit: one fdatasync covers a turn's
 * commits), while oidc-provider's in-memory store never waits for one; so a ratio can move between
 * machines with the disk alone, and this figure, printed beside the table, shows when it did.
 * Appends one 4 KiB page at a time to a scratch file and fdatasyncs after each, as the WAL grows.
 */
export function measureDiskSync(directory = tmpdir(), samples = 200): DiskSyncLatency {
  if (!Number.isInteger(samples) || samples < 1) throw new Error("samples takes a whole number of at least 1");
  const scratch = mkdtempSync(join(directory, "keyward-disk-sync-"));
  const page = Buffer.alloc(PAGE_BYTES, 0x6b);
  const took: number[] = [];
  const fd = openSync(join(scratch, "wal"), "w");
  try {
    for (let i = 0; i < samples; i++) {
      const started = process.hrtime.bigint();
      writeSync(fd, page, 0, PAGE_BYTES, i * PAGE_BYTES);
      fdatasyncSync(fd);
      took.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(scratch, { recursive: true, force: true });
  }
  took.sort((a, b) => a - b);
  return {
    directory,
    samples,
    p50Ms: percentile(took, 0.5),
    p90Ms: percentile(took, 0.9),
    p99Ms: percentile(took, 0.99),
  };
}

export function describeDiskSync(when: string, latency: DiskSyncLatency): string {
  const ms = (value: number) => value.toFixed(2);
  return (
    `disk sync ${when} (4 KiB append + fdatasync in ${latency.directory}, ${latency.samples} times): ` +
    `p50 ${ms(latency.p50Ms)} ms, p90 ${ms(latency.p90Ms)} ms, p99 ${ms(latency.p99Ms)} ms`
  );
}
