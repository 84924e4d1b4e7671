import type { KeyObject } from "node:crypto";
import { Worker } from "node:worker_threads";
import { type Es256Signer, signOnThreadPool } from "./jws.js";
import type { SignReply, SignRequest } from "./signing-worker.js";

interface Waiter {
  input: string;
  key: KeyObject;
  resolve: (signature: string) => void;
  reject: (error: Error) => void;
}

function signEachOnThreadPool(waiters: readonly Waiter[]): void {
  for (const waiter of waiters) signOnThreadPool(waiter.input, waiter.key).then(waiter.resolve, waiter.reject);
}

/**
 * Signs on one thread of its own, in batches: every signature asked for in one turn of the event
 * loop goes over in one message. A thread-pool job per signature wakes a sleeping pool thread
 * each time, and on a busy machine that wake-up costs the event loop about as much as the job
 * saves it. The thread starts with the first signature, so processes that never sign never start it.
 *
 * Should the thread fail, its unanswered batches and every later signature go to the thread pool
 * instead; no signature is lost. Closing does the same with whatever is still unanswered.
 */
export class SigningThread {
  /**
   * `lost` is told, once, why the thread is given up (never for `close`): signing goes on, slower.
   * `workerScript`: the thread's code; tests give one that fails.
   */
  constructor(
    private readonly lost: (error: Error) => void = () => {},
    private readonly workerScript = new URL("./signing-worker.js", import.meta.url),
  ) {}

  private worker: Worker | undefined;
  /** Once the thread failed or was closed, everything signs on the thread pool. */
  private retired = false;
  private queue: Waiter[] = [];
  private flushScheduled = false;
  private readonly unanswered = new Map<number, Waiter[]>();
  private nextId = 0;
  /** The key the thread holds: the last one sent. */
  private sentKey: KeyObject | undefined;

  readonly sign: Es256Signer = (input, key) => {
    if (this.retired) return signOnThreadPool(input, key);
    return new Promise((resolve, reject) => {
      this.queue.push({ input, key, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  };

  /** Ends the thread; what it has not answered yet is signed on the thread pool. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.retire();
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = new Worker(this.workerScript, {
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    worker.on("message", (reply: SignReply) => this.answer(reply));
    worker.on("messageerror", (error) => this.fail(worker, error));
    worker.on("error", (error) => this.fail(worker, error));
    worker.on("exit", (code) => this.fail(worker, new Error(`the signing thread exited with code ${code}`)));
    // Held only while a batch is out, so an idle thread never keeps the process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private flush(): void {
    this.flushScheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (this.retired) {
      signEachOnThreadPool(queue);
      return;
    }
    let worker: Worker;
    try {
      worker = this.worker ?? this.start();
    } catch (error) {
      this.lost(error as Error);
      this.retire();
      signEachOnThreadPool(queue);
      return;
    }
    // One message per run of signatures under the same key; the key goes along when it changed.
    let start = 0;
    while (start < queue.length) {
      const key = (queue[start] as Waiter).key;
      let end = start + 1;
      while (end < queue.length && (queue[end] as Waiter).key === key) end++;
      const waiters = queue.slice(start, end);
      start = end;
      const request: SignRequest = { id: this.nextId++, inputs: waiters.map((waiter) => waiter.input) };
      if (key !== this.sentKey) request.key = key;
      try {
        worker.postMessage(request);
      } catch {
        signEachOnThreadPool(waiters);
        continue;
      }
      this.sentKey = key;
      if (this.unanswered.size === 0) worker.ref();
      this.unanswered.set(request.id, waiters);
    }
  }

  private answer(reply: SignReply): void {
    const waiters = this.unanswered.get(reply.id);
    if (!waiters) return;
    this.unanswered.delete(reply.id);
    if (this.unanswered.size === 0) this.worker?.unref();
    waiters.forEach((waiter, i) => {
      const signature = reply.signatures[i];
      if (signature !== undefined) waiter.resolve(signature);
      else waiter.reject(new Error(`signing failed: ${reply.error ?? "no signature"}`));
    });
  }

  private fail(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    this.lost(error);
    this.retire();
    void worker.terminate();
  }

  private retire(): void {
    this.retired = true;
    this.worker = undefined;
    const waiting = [...this.unanswered.values()];
    this.unanswered.clear();
    for (const waiters of waiting) signEachOnThreadPool(waiters);
  }
}
