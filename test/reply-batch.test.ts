import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { ReplyBatch } from "../src/http/reply-batch.js";

test("replies readied in one turn are written together, in order, once the turn's callbacks have run", async () => {
  const batch = new ReplyBatch();
  const written: string[] = [];
  batch.add(() => written.push("first"));
  await Promise.resolve();
  batch.add(() => written.push("second"));
  await Promise.resolve();
  assert.deepEqual(written, [], "nothing is written while the turn's callbacks and microtasks still run");
  await nextTurn();
  assert.deepEqual(written, ["first", "second"]);
});

test("a reply readied after a batch was written goes out with the next turn", async () => {
  const batch = new ReplyBatch();
  const written: string[] = [];
  batch.add(() => written.push("first"));
  await nextTurn();
  batch.add(() => written.push("second"));
  assert.deepEqual(written, ["first"]);
  await nextTurn();
  assert.deepEqual(written, ["first", "second"]);
});
