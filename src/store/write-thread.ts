import { Worker } from "node:worker_threads";
import type { CompiledQuery } from "kysely";
import type { GroupOutcome, WriteBatch, WriteFailure, WriteReply, WriteThreadData } from "./write-thread-worker.js";

type Parameter = string | number | null;

interface PendingGroup {
  statements: CompiledQuery[];
  resolve: (changes: number[]) => void;
  reject: (error: Error) => void;
}

const THREAD_LOST = "SQLITE_WRITE_THREAD_LOST";

/** A group lost with a failing write thread: whether it committed is unknown. */
export const isWriteThreadLost = (error: unknown) => (error as { code?: unknown } | undefined)?.code === THREAD_LOST;

const errorOf = ({ code, message }: WriteFailure) => Object.assign(new Error(message), { code });

/**
 * Runs writes that need nothing read back between their statements (revocations) on a thread of
 * their own, with its own connection, so that their SQLite work (the index reads, the savepoint,
 * the commit's WAL writes) leaves the event loop. The groups asked for in one turn of the event
 * loop go as one batch: one message, one write transaction, one commit. The next batch may be
 * sent while the thread still runs the previous one; it runs them in order.
 *
 * `onCommitted` runs before a batch's callers hear of it: it notes the commit for the WAL's disk
 * sync and ends the serving connection's read snapshot, so what a caller reads next shows its write.
 * Should the thread fail, its pending groups fail with an error `isWriteThreadLost` recognizes, and
 * `run` answers undefined from then on: the caller then writes on the serving connection.
 */
export class WriteThread {
  private readonly worker: Worker;
  private queued: PendingGroup[] = [];
  private readonly sent = new Map<number, PendingGroup[]>();
  private nextId = 0;
  /** The number each statement text has on the thread. */
  private readonly numbers = new Map<string, number>();
  private failed = false;
  private stopping = false;

  constructor(
    path: string,
    busyTimeoutMs: number,
    private readonly onCommitted: () => Promise<void>,
    /** The thread's page cache; SQLite's build default when absent. */
    pageCacheKib?: number,
  ) {
    const workerData: WriteThreadData = { path, busyTimeoutMs, pageCacheKib };
    this.worker = new Worker(new URL("./write-thread-worker.js", import.meta.url), {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    });
    this.worker.unref();
    this.worker.on("message", (reply: string) => void this.settle(JSON.parse(reply) as WriteReply));
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", () => this.fail(new Error("the SQLite write thread exited")));
  }

  /**
   * Runs `statements` as one atomic group; the rows each changed (a query: returned; a statement
   * skipped: 0). When the first is a query, the others bind its row's columns as named parameters
   * and are skipped if it returned no row (see write-thread-worker.ts). Undefined once the thread is gone.
   * Their parameters must be strings, numbers or null: they cross as JSON.
   */
  run(statements: CompiledQuery[]): Promise<number[]> | undefined {
    if (this.failed || this.stopping) return undefined;
    return new Promise((resolve, reject) => {
      if (this.queued.length === 0) setImmediate(() => this.send());
      this.queued.push({ statements, resolve, reject });
    });
  }

  /** Lets the batches already asked for finish, then ends the thread. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.failed) return;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.ref();
    this.send();
    this.worker.postMessage("stop");
    await exited;
  }

  private send(): void {
    if (this.queued.length === 0 || this.failed) return;
    const groups = this.queued;
    this.queued = [];
    const id = this.nextId++;
    this.sent.set(id, groups);
    const texts: string[] = [];
    const numbered = groups.map(({ statements }) =>
      statements.map(({ sql, parameters }) => {
        let number = this.numbers.get(sql);
        if (number === undefined) {
          number = this.numbers.size;
          this.numbers.set(sql, number);
          texts.push(sql);
        }
        return [number, ...(parameters as Parameter[])];
      }),
    );
    const batch: WriteBatch = { id, texts, groups: numbered };
    this.worker.postMessage(JSON.stringify(batch));
  }

  private async settle(reply: WriteReply): Promise<void> {
    const groups = this.sent.get(reply.id) ?? [];
    this.sent.delete(reply.id);
    if ("failure" in reply) {
      for (const group of groups) group.reject(errorOf(reply.failure));
      return;
    }
    try {
      await this.onCommitted();
    } catch (error) {
      for (const group of groups) group.reject(error as Error);
      return;
    }
    groups.forEach((group, i) => {
      const outcome = reply.outcomes[i] as GroupOutcome;
      if ("failure" in outcome) group.reject(errorOf(outcome.failure));
      else group.resolve(outcome.changes);
    });
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    const lost = [...this.sent.values(), this.queued].flat();
    this.sent.clear();
    this.queued = [];
    const failure = Object.assign(new Error("the SQLite write thread failed", { cause: error }), { code: THREAD_LOST });
    for (const group of lost) group.reject(failure);
  }
}
