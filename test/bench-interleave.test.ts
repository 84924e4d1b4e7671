import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runInterleaved, type Side, sliceOrder, slicesAreClean } from "../bench/interleave.js";
import { slicingOf } from "../bench/interleave-sides.js";
import type { LoadFigures } from "../bench/load.js";
import type { Target } from "../bench/targets/target.js";

function figures(requests: number, seconds: number, extra: Partial<LoadFigures> = {}): LoadFigures {
  return {
    requestsPerSecond: requests / seconds,
    p50Ms: 1,
    p99Ms: 2,
    requests,
    non2xx: 0,
    invalid: 0,
    errors: 0,
    timeouts: 0,
    statusCodes: { 200: requests },
    failures: [],
    seconds,
    ...extra,
  };
}

const side = (name: string): Side => ({
  target: { name, server: { pids: () => [] } } as unknown as Target,
  workload: { path: "/", connection: () => ({ body: () => "", response: () => undefined }) },
});

describe("interleaved measurement", () => {
  test("alternates which side goes first in each pair of slices", () => {
    assert.deepEqual(sliceOrder(4), [
      [0, 1],
      [1, 0],
      [0, 1],
      [1, 0],
    ]);
  });

  test("a machine that slows down mid-run leaves the ratio as it is", async () => {
    const order: string[] = [];
    const base: Record<string, number> = { fast: 3000, slow: 1000 };
    // The machine runs at full speed for the first two pairs of slices, then at a third of it.
    const figuresOf = await runInterleaved(
      [side("fast"), side("slow")],
      { slices: 6, sliceSeconds: 1, gapMs: 0 },
      async (target) => {
        order.push(target.name);
        const speed = order.length <= 4 ? 1 : 1 / 3;
        return figures(Math.round((base[target.name] ?? 0) * speed), 1);
      },
    );
    assert.deepEqual(order, [
      "fast",
      "slow",
      "slow",
      "fast",
      "fast",
      "slow",
      "slow",
      "fast",
      "fast",
      "slow",
      "slow",
      "fast",
    ]);
    const [fast, slow] = figuresOf;
    assert.equal(fast.seconds, 6);
    assert.equal(fast.slices.length, 6);
    assert.equal(fast.requests, 3000 * 2 + 1000 * 4);
    assert.equal(slow.requests, 1000 + 1000 + 333 * 4);
    assert.ok(Math.abs(fast.requestsPerSecond / slow.requestsPerSecond - 3) < 0.01);
  });

  test("counts a side's CPU while the other side is driven", async () => {
    const usage = new Map([
      ["a", 10],
      ["b", 30],
    ]);
    const [a, b] = await runInterleaved(
      [side("a"), side("b")],
      { slices: 2, sliceSeconds: 2, gapMs: 0 },
      async () => figures(100, 2),
      (target) => ({ start() {}, stop: () => ({ peakRssBytes: 0, cpuPercent: usage.get(target.name) ?? 0 }) }),
    );
    assert.equal(a.idleCpuPercent, 10);
    assert.equal(b.idleCpuPercent, 30);
  });

  test("a slice with a failed request makes its side unclean", async () => {
    const [, broken] = await runInterleaved(
      [side("a"), side("b")],
      { slices: 2, sliceSeconds: 1, gapMs: 0 },
      async (target) => figures(100, 1, target.name === "b" ? { non2xx: 1 } : {}),
    );
    assert.equal(slicesAreClean(broken), false);
  });
});

test("slicingOf cuts the seconds into whole slices and refuses fewer than two", () => {
  assert.deepEqual(slicingOf("12", "1"), { seconds: 12, sliceSeconds: 1, slices: 12 });
  assert.deepEqual(slicingOf("5", "2"), { seconds: 5, sliceSeconds: 2, slices: 3 });
  assert.throws(() => slicingOf("1", "1"), /at least two/);
  assert.throws(() => slicingOf("10", "0"), /at least two/);
  assert.throws(() => slicingOf("ten", "1"), /at least two/);
});
