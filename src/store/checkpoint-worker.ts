import { parentPort, workerData } from "node:worker_threads";
import SQLite from "better-sqlite3";
import { isSqliteBusy } from "./errors.js";
import { walFileBytes } from "./wal-file.js";

/**
 * The thread behind `WalCheckpointer`: its own connection to the database file, which copies
 * committed WAL frames back into the database every `intervalMs`. PASSIVE never waits for readers
 * or writers; whatever it cannot copy now, the next round copies.
 *
 * It also cuts back a WAL that a bulk write (a large prune, an import) grew beyond
 * `walSizeLimitBytes`, once a round finds nothing new to copy. Left to the serving connection,
 * the cut would happen in the first commit after the WAL restarts, on the event loop: cutting a
 * 3.8 GB WAL back to 64 MiB took 0.9 s on this machine's disk, and every request waited for it.
 * Here it blocks only writes, and only while the server is quiet.
 */
export interface CheckpointWorkerData {
  path: string;
  intervalMs: number;
  walSizeLimitBytes: number;
}

interface CheckpointResult {
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Of those, frames copied back into the database. */
  checkpointed: number;
}

const { path, intervalMs, walSizeLimitBytes } = workerData as CheckpointWorkerData;
const database = new SQLite(path);
// Another connection holds a lock this round needs (the checkpoint lock, or the schema while
// another process migrates or opens the file): skip this round rather than wait.
database.pragma("busy_timeout = 0");
let passive: SQLite.Statement | undefined;
let truncate: SQLite.Statement | undefined;
/** The WAL's frame count after the previous round, when that round had copied all of them. */
let settledFrames: number | undefined;

function runOnce(): void {
  try {
    // Preparing reads the schema, which can be busy too, so it happens inside the same guard.
    passive ??= database.prepare("pragma wal_checkpoint(PASSIVE)");
    const result = passive.get() as CheckpointResult;
    const settled = result.busy === 0 && result.checkpointed === result.log;
    // No commit since the previous round, and everything copied: truncating now stalls no one.
    if (settled && settledFrames === result.log && walFileBytes(path) > walSizeLimitBytes) {
      truncate ??= database.prepare("pragma wal_checkpoint(TRUNCATE)");
      truncate.get();
    }
    settledFrames = settled ? result.log : undefined;
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
