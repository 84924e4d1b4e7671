import { parentPort, workerData } from "node:worker_threads";
import SQLite from "better-sqlite3";
import { isSqliteBusy } from "./errors.js";

/**
 * The thread behind `WalCheckpointer`: its own connection to the database file, which copies
 * committed WAL frames back into the database every `intervalMs`. PASSIVE never waits for readers
 * or writers; whatever it cannot copy now, the next round copies.
 */
export interface CheckpointWorkerData {
  path: string;
  intervalMs: number;
}

const { path, intervalMs } = workerData as CheckpointWorkerData;
const database = new SQLite(path);
// Another connection holds a lock this round needs (the checkpoint lock, or the schema while
// another process migrates or opens the file): skip this round rather than wait.
database.pragma("busy_timeout = 0");
let checkpoint: SQLite.Statement | undefined;

function runOnce(): void {
  try {
    // Preparing reads the schema, which can be busy too, so it happens inside the same guard.
    checkpoint ??= database.prepare("pragma wal_checkpoint(PASSIVE)");
    checkpoint.run();
  } catch (error) {
    if (!isSqliteBusy(error)) throw error;
  }
}

const timer = setInterval(runOnce, intervalMs);
parentPort?.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  runOnce();
  database.close();
  parentPort?.close();
});
parentPort?.postMessage("ready");
