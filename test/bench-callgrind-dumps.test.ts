import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addDump, compilerInstructions, emptyCosts, parseJitMap } from "../bench/callgrind-dumps.js";

/** A dump as callgrind writes one with name compression: `main` calls a JIT function twice, which calls `hash`. */
const DUMP = [
  "events: Ir",
  "fl=(1) node",
  "fn=(1) main",
  "0 100",
  "cfn=(2) 0x0000000000001010",
  "calls=2 0",
  "0 70",
  "fn=(2)",
  "0 30",
  "cfn=(3) hash",
  "calls=1 0",
  "0 40",
  "fn=(3)",
  "0 40",
  "summary: 170",
].join("\n");

describe("callgrind dumps for instructions.js --keep", () => {
  test("self and inclusive costs, and V8's code named from its map", () => {
    const costs = emptyCosts();
    addDump(costs, DUMP, parseJitMap("1000 40 JS:*introspect token-state.js:22\n2000 10 JS:*other x.js:1\n"));
    assert.deepEqual(Object.fromEntries(costs.self), { main: 100, "JS:*introspect token-state.js:22": 30, hash: 40 });
    assert.deepEqual(Object.fromEntries(costs.inclusive), {
      main: 170,
      "JS:*introspect token-state.js:22": 70,
      hash: 40,
    });
    assert.deepEqual(Object.fromEntries(costs.calls), {
      "main -> JS:*introspect token-state.js:22": 70,
      "JS:*introspect token-state.js:22 -> hash": 40,
    });
  });

  test("an address outside the map says so, and dumps add up", () => {
    const costs = emptyCosts();
    addDump(costs, DUMP, []);
    addDump(costs, DUMP, []);
    assert.equal(costs.self.get("(JIT code not in the map)"), 60);
    assert.equal(costs.self.get("main"), 200);
  });

  test("the optimizing compiler's share is its compile tasks' inclusive cost", () => {
    const platformThread = [
      "events: Ir",
      "fn=(1) node::(anonymous namespace)::PlatformWorkerThread(void*)",
      "0 5",
      "cfn=(2) v8::internal::OptimizingCompileDispatcher::CompileTask::RunInternal()",
      "calls=3 0",
      "0 900",
      "cfn=(3) v8::internal::ScavengerCollector::JobTask::Run()",
      "calls=1 0",
      "0 80",
      "fn=(2)",
      "0 100",
      "cfn=(4) v8::internal::compiler::GraphReducer::ReduceTop()",
      "calls=9 0",
      "0 800",
      "fn=(4)",
      "0 800",
      "fn=(3)",
      "0 80",
    ].join("\n");
    assert.equal(compilerInstructions(platformThread), 900);
    assert.equal(compilerInstructions(DUMP), 0);
  });
});
