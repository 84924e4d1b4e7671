import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addDump, emptyCosts, parseJitMap } from "../bench/callgrind-dumps.js";

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
});
