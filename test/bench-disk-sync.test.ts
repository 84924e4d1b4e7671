import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { describeDiskSync, measureDiskSync, percentile } from "../bench/disk-sync.js";

describe("disk sync latency beside the benchmark", () => {
  test("percentiles by nearest rank", () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(values, 0.5), 5);
    assert.equal(percentile(values, 0.9), 9);
    assert.equal(percentile(values, 0.99), 10);
    assert.equal(percentile([7], 0.99), 7);
    assert.throws(() => percentile([], 0.5), /no values/);
  });

  test("times each durable append in the given directory and leaves nothing behind", () => {
    const directory = mkdtempSync(join(tmpdir(), "keyward-disk-sync-test-"));
    try {
      const latency = measureDiskSync(directory, 20);
      assert.equal(latency.samples, 20);
      assert.equal(latency.directory, directory);
      assert.ok(latency.p50Ms > 0);
      assert.ok(latency.p50Ms <= latency.p90Ms && latency.p90Ms <= latency.p99Ms);
      assert.deepEqual(readdirSync(directory), []);
      assert.throws(() => measureDiskSync(directory, 0), /whole number/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("one line with the three figures", () => {
    const line = describeDiskSync("at start", { directory: "/tmp", samples: 200, p50Ms: 0.5, p90Ms: 1.25, p99Ms: 3 });
    assert.equal(
      line,
      "disk sync at start (4 KiB append + fdatasync in /tmp, 200 times): p50 0.50 ms, p90 1.25 ms, p99 3.00 ms",
    );
  });
});
