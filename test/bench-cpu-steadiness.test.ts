import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeCpuSteadiness, measureCpuSteadiness, summarizeSteadiness } from "../bench/cpu-steadiness.js";

describe("core speed beside the benchmark", () => {
  test("the spread of a fixed task's times, by nearest rank", () => {
    const took = [50, 10, 90, 20, 80, 30, 70, 40, 60, 100];
    assert.deepEqual(summarizeSteadiness(took, 2), { seconds: 2, samples: 10, p10Ms: 10, p50Ms: 50, p90Ms: 90 });
  });

  test("times the task for as long as asked, at least once", () => {
    const started = Date.now();
    const steadiness = measureCpuSteadiness(0.3);
    assert.ok(Date.now() - started >= 300);
    assert.ok(steadiness.samples >= 1);
    assert.ok(steadiness.p10Ms > 0 && steadiness.p10Ms <= steadiness.p50Ms && steadiness.p50Ms <= steadiness.p90Ms);
  });

  test("one line with the three figures and their spread", () => {
    const line = describeCpuSteadiness("at start", { seconds: 3, samples: 80, p10Ms: 35, p50Ms: 40.25, p90Ms: 70 });
    assert.equal(
      line,
      "core speed at start (a fixed task, 80 times in 3 s): p10 35.0 ms, p50 40.3 ms, p90 70.0 ms (p90/p10 2.00)",
    );
  });
});
