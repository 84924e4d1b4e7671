import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderTable } from "../bench/report.js";
import { median, type RoundResult, ratios, summarize } from "../bench/summary.js";

function run(server: string, round: number, requestsPerSecond: number, extra: Partial<RoundResult> = {}): RoundResult {
  return {
    operation: "exchange",
    server,
    round,
    requestsPerSecond,
    p50Ms: 10,
    p99Ms: 20,
    requests: requestsPerSecond * 10,
    non2xx: 0,
    invalid: 0,
    errors: 0,
    timeouts: 0,
    statusCodes: { 200: requestsPerSecond * 10 },
    failures: [],
    seconds: 10,
    peakRssBytes: 100 * 1024 * 1024,
    serverCpuPercent: 100,
    poolSize: 1000,
    poolRanDry: false,
    attempts: 1,
    ...extra,
  };
}

describe("benchmark rounds", () => {
  test("median of odd and even counts, none for no values", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), null);
  });

  test("ratios pair each keyward run with the peer's run of the same round, then take the median", () => {
    const results = [
      run("keyward", 1, 100),
      run("oidc-provider", 1, 50),
      run("floor", 1, 400),
      // The machine is three times faster in round 2: the pair's ratio does not care.
      run("keyward", 2, 300),
      run("oidc-provider", 2, 100),
      run("floor", 2, 1200),
      run("keyward", 3, 100),
      run("oidc-provider", 3, 200),
    ];
    const [ratio] = ratios(results);
    assert.deepEqual(ratio?.vsOidcProviderByRound, [2, 3, 0.5]);
    assert.equal(ratio?.vsOidcProvider, 2);
    // Round 3 has no floor run, so it has no floor ratio.
    assert.deepEqual(ratio?.vsFloorByRound, [0.25, 0.25]);
    assert.equal(ratio?.vsFloor, 0.25);
  });

  test("the summary takes medians, the highest peak RSS, and is invalid if any round is", () => {
    const mib = 1024 * 1024;
    const [row] = summarize([
      run("keyward", 1, 100, { p99Ms: 30, peakRssBytes: 140 * mib }),
      run("keyward", 2, 200, { p99Ms: 10, peakRssBytes: 160 * mib, non2xx: 2, statusCodes: { 503: 2 } }),
      run("keyward", 3, 300, { p99Ms: 20, peakRssBytes: 120 * mib, timeouts: 1 }),
    ]);
    assert.equal(row?.rounds, 3);
    assert.equal(row?.requestsPerSecond, 200);
    assert.equal(row?.p99Ms, 20);
    assert.equal(row?.peakRssBytes, 160 * mib);
    assert.equal(row?.non2xx, 2);
    assert.equal(row?.otherErrors, 1);
    assert.equal(row?.valid, false);
  });

  test("the table lists every round's ratios only when there were several", () => {
    const one = renderTable([run("keyward", 1, 100), run("oidc-provider", 1, 50)]);
    assert.doesNotMatch(one, /rounds/);
    assert.match(one, /^exchange\s+keyward\s+100\s.*\s2\.00$/m);
    const two = renderTable([
      run("keyward", 1, 100),
      run("oidc-provider", 1, 50),
      run("keyward", 2, 90),
      run("oidc-provider", 2, 60),
    ]);
    assert.match(two, /^2 rounds: /m);
    assert.match(two, /exchange keyward: 2\.00 1\.50 \/ -/);
    assert.match(two, /^exchange\s+keyward\s+95\s.*\s1\.75$/m);
  });
});
