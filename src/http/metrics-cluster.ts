import cluster, { type Worker } from "node:cluster";
import { type Metrics, type MetricsSnapshot, mergeSnapshots } from "./metrics.js";

/**
 * With `--workers N` a scrape reaches one worker, which asks the primary for the whole cluster's
 * figures: the primary asks every worker for its snapshot and sends back their sum.
 */
const ASK = "keyward:metrics:ask";
const COLLECT = "keyward:metrics:collect";
const SNAPSHOT = "keyward:metrics:snapshot";
const ANSWER = "keyward:metrics:answer";

/** How long the primary waits for each worker, and a worker for the primary. */
const COLLECT_TIMEOUT_MS = 2000;

interface Message {
  type: string;
  id: number;
  snapshot?: MetricsSnapshot;
}

const isMessage = (value: unknown): value is Message =>
  typeof value === "object" && value !== null && typeof (value as Message).type === "string";

export class MetricsUnavailable extends Error {}

/** Snapshots asked for by id; one not heard of within the time given settles as undefined. */
class AwaitedSnapshots {
  private next = 0;
  private readonly waiting = new Map<number, (snapshot: MetricsSnapshot | undefined) => void>();

  /** Calls `send` with a fresh id; resolves with the snapshot answered to it, or undefined after `timeoutMs`. */
  ask(send: (id: number) => void, timeoutMs: number): Promise<MetricsSnapshot | undefined> {
    const id = this.next++;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (snapshot: MetricsSnapshot | undefined) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(snapshot);
      };
      timer = setTimeout(settle, timeoutMs, undefined);
      this.waiting.set(id, settle);
      send(id);
    });
  }

  settle(id: number, snapshot: MetricsSnapshot | undefined): void {
    this.waiting.get(id)?.(snapshot);
  }
}

const fromPrimary = new AwaitedSnapshots();

/** In a worker: sends this process's figures to the primary when it collects them. */
export function answerCollections(metrics: Metrics): void {
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === COLLECT) process.send?.({ type: SNAPSHOT, id: message.id, snapshot: metrics.snapshot() });
    if (message.type === ANSWER && message.snapshot) fromPrimary.settle(message.id, message.snapshot);
  });
}

/** The figures of every process serving: this one's alone, unless it is one of a cluster's workers. */
export async function collectMetrics(metrics: Metrics): Promise<MetricsSnapshot> {
  if (!cluster.isWorker || !process.send) return metrics.snapshot();
  const snapshot = await fromPrimary.ask((id) => process.send?.({ type: ASK, id }), COLLECT_TIMEOUT_MS * 2);
  if (snapshot === undefined) {
    throw new MetricsUnavailable("the primary process did not send the cluster's figures in time");
  }
  return snapshot;
}

/**
 * In the primary: answers a worker's ask with the sum of the snapshots of `workers()`. A worker
 * that does not answer within COLLECT_TIMEOUT_MS is left out (`keyward_processes` says how many answered).
 */
export function serveCollections(workers: () => Iterable<Worker>): void {
  const fromWorkers = new AwaitedSnapshots();
  cluster.on("message", (asker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === SNAPSHOT && message.snapshot) fromWorkers.settle(message.id, message.snapshot);
    if (message.type !== ASK) return;
    const answers = [...workers()]
      .filter((worker) => worker.isConnected())
      .map((worker) =>
        fromWorkers.ask(
          (id) =>
            // A worker that died since it was listed is left out, as one that does not answer.
            worker.send({ type: COLLECT, id }, (error: Error | null) => {
              if (error) fromWorkers.settle(id, undefined);
            }),
          COLLECT_TIMEOUT_MS,
        ),
      );
    void Promise.all(answers)
      .then((snapshots) => {
        const snapshot = mergeSnapshots(snapshots.filter((s): s is MetricsSnapshot => s !== undefined));
        // An asker that exits meanwhile gets no answer; the callback keeps that from being an error event.
        if (asker.isConnected()) asker.send({ type: ANSWER, id: message.id, snapshot }, () => {});
      })
      .catch(() => {});
  });
}
