import { Worker } from "node:worker_threads";
import type SQLite from "better-sqlite3";
import type { CheckpointWorkerData } from "./checkpoint-worker.js";

/** SQLite's own default: a checkpoint once the WAL holds this many pages. */
const AUTOCHECKPOINT_PAGES = 1000;

/** How often the checkpoint thread copies the WAL back into the database file. */
const CHECKPOINT_INTERVAL_MS = 100;

/**
 * Moves WAL checkpoints off the event loop. Left to itself, SQLite checkpoints inside the commit
 * that crosses 1000 WAL pages: it copies those pages into the database file and fsyncs both files
 * on the thread that committed, which in an exchange-heavy load is about a quarter of all commit
 * time. Here the serving connection never checkpoints; a worker thread with its own connection
 * does, every `CHECKPOINT_INTERVAL_MS`, and it also cuts back a WAL grown past its size limit
 * (see checkpoint-worker.ts), which the serving connection then no longer does. Should that
 * thread fail, the serving connection takes both back.
 */
export class WalCheckpointer {
  private stopped = false;

  private readonly worker: Worker;

  /** The serving connection keeps checkpointing by itself until the thread reports ready. */
  constructor(
    private readonly serving: SQLite.Database,
    path: string,
    private readonly walSizeLimitBytes: number,
  ) {
    const workerData: CheckpointWorkerData = { path, intervalMs: CHECKPOINT_INTERVAL_MS, walSizeLimitBytes };
    this.worker = new Worker(new URL("./checkpoint-worker.js", import.meta.url), {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    this.worker.unref();
    this.worker.once("message", () => {
      if (this.stopped || !this.serving.open) return;
      this.serving.pragma("wal_autocheckpoint = 0");
      this.serving.pragma("journal_size_limit = -1");
    });
    this.worker.on("error", () => this.fallBack());
    this.worker.on("exit", () => this.fallBack());
  }

  /** Copies what is left and ends the thread. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Not `once(worker, "exit")`: that rejects when the thread fails first, and a failed
    // checkpoint thread must not make closing the store fail (the serving connection still commits).
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    // Unreferenced so it never holds the process open; closing waits for it, so hold it until then.
    this.worker.ref();
    this.worker.postMessage("stop");
    await exited;
  }

  private fallBack(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.serving.open) return;
    this.serving.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    this.serving.pragma(`journal_size_limit = ${this.walSizeLimitBytes}`);
  }
}
