import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { DurabilityLostError, WalSync } from "../src/store/wal-sync.js";
import { tempDatabase } from "./support/server-process.js";

function countingWal() {
  const path = `${tempDatabase()}-wal`;
  writeFileSync(path, "frames");
  const calls: (() => void)[] = [];
  const wal = new WalSync(path, () => new Promise<void>((resolve) => calls.push(resolve)));
  const finishSync = () => calls.shift()?.();
  return { wal, calls, finishSync };
}

test("flush resolves at once when nothing was written", async () => {
  const { wal, calls } = countingWal();
  await wal.flush();
  assert.equal(calls.length, 0);
  wal.close();
});

test("concurrent flushes share one disk sync", async () => {
  const { wal, calls, finishSync } = countingWal();
  for (let i = 0; i < 10; i++) wal.noteWrite();
  const flushes = Array.from({ length: 10 }, () => wal.flush());
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls.length, 1);
  finishSync();
  await Promise.all(flushes);
  await wal.flush();
  assert.equal(calls.length, 0, "nothing left to sync");
  wal.close();
});

test("a write made while a sync runs waits for the next sync", async () => {
  const { wal, calls, finishSync } = countingWal();
  wal.noteWrite();
  const first = wal.flush();
  await new Promise((resolve) => setImmediate(resolve));
  wal.noteWrite();
  let secondDone = false;
  const second = wal.flush().then(() => {
    secondDone = true;
  });
  finishSync();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(secondDone, false, "the second write is not yet durable");
  assert.equal(calls.length, 1, "a second sync started");
  finishSync();
  await second;
  assert.equal(secondDone, true);
  wal.close();
});

test("a failed sync is final: every later flush rejects, and no sync is tried again", async () => {
  const path = `${tempDatabase()}-wal`;
  writeFileSync(path, "frames");
  let syncs = 0;
  const lost: Error[] = [];
  const wal = new WalSync(
    path,
    async () => {
      syncs++;
      // Only the first sync fails: on Linux the next one could succeed without the lost pages.
      if (syncs === 1) throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    },
    (error) => lost.push(error),
  );
  wal.noteWrite();
  const waiting = [wal.flush(), wal.flush()];
  for (const flush of waiting) await assert.rejects(flush, DurabilityLostError);
  wal.noteWrite();
  await assert.rejects(wal.flush(), DurabilityLostError);
  await assert.rejects(wal.flush(), (error: Error) => (error.cause as { code?: string }).code === "EIO");
  assert.equal(syncs, 1);
  assert.equal(lost.length, 1);
  assert.ok(wal.lost instanceof DurabilityLostError);
  wal.close();
});
