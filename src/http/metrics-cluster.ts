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
export const COLLECT_TIMEOUT_MS = 2000;

interface Message {
  type: string;
  id: number;
  snapshot?: MetricsSnapshot;
}

const isMessage = (value: unknown): value is Message =>
  typeof value === "object" && value !== null && typeof (value as Message).type === "string";

export class MetricsUnavailable extends Error {}

let asked = 0;
const waiting = new Map<number, (snapshot: MetricsSnapshot) => void>();

/** In a worker: sends this process's figures to the primary when it collects them. */
export function answerCollections(metrics: Metrics): void {
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === COLLECT) process.send?.({ type: SNAPSHOT, id: message.id, snapshot: metrics.snapshot() });
    if (message.type === ANSWER && message.snapshot) waiting.get(message.id)?.(message.snapshot);
  });
}

/** The figures of every process serving: this one's alone, unless it is one of a cluster's workers. */
export function collectMetrics(metrics: Metrics): Promise<MetricsSnapshot> {
  if (!cluster.isWorker || !process.send) return Promise.resolve(metrics.snapshot());
  const id = asked++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new MetricsUnavailable("the primary process did not send the cluster's figures in time"));
    }, COLLECT_TIMEOUT_MS * 2);
    waiting.set(id, (snapshot) => {
      clearTimeout(timer);
      waiting.delete(id);
      resolve(snapshot);
    });
    process.send?.({ type: ASK, id });
  });
}

/**
 * In the primary: answers a worker's ask with the sum of the snapshots of `workers()`. A worker
 * that does not answer within COLLECT_TIMEOUT_MS is left out (`keyward_processes` says how many answered).
 */
export function serveCollections(workers: () => Iterable<Worker>): void {
  let collected = 0;
  const pending = new Map<number, (snapshot: MetricsSnapshot | undefined) => void>();
  cluster.on("message", (asker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === SNAPSHOT && message.snapshot) pending.get(message.id)?.(message.snapshot);
    if (message.type !== ASK) return;
    const answers = [...workers()]
      .filter((worker) => worker.isConnected())
      .map(
        (worker) =>
          new Promise<MetricsSnapshot | undefined>((resolve) => {
            const id = collected++;
            const timer = setTimeout(() => {
              pending.delete(id);
              resolve(undefined);
            }, COLLECT_TIMEOUT_MS);
            pending.set(id, (snapshot) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(snapshot);
            });
            // A worker that died since it was listed is left out, as one that does not answer.
            worker.send({ type: COLLECT, id }, (error: Error | null) => {
              if (error) pending.get(id)?.(undefined);
            });
          }),
      );
    Promise.all(answers).then((snapshots) => {
      const snapshot = mergeSnapshots(snapshots.filter((s): s is MetricsSnapshot => s !== undefined));
      if (asker.isConnected()) asker.send({ type: ANSWER, id: message.id, snapshot });
    });
  });
}
