import cluster, { type Worker } from "node:cluster";
import type { Config } from "../config.js";
import { serveCollections } from "../http/metrics-cluster.js";
import { keywardLogger } from "../logger.js";
import { openRuntime } from "../runtime.js";
import { logGeneratedSecret, logMigrationsApplied } from "../server.js";

/**
 * Pause before replacing a worker that died, doubled for each of that worker's replacements in a
 * row that died before it listened (a database it cannot open, a PostgreSQL with no connection to
 * spare), up to MAX_REPLACE_DELAY_MS, so a crash loop cannot spin.
 */
const REPLACE_DELAY_MS = 1000;
const MAX_REPLACE_DELAY_MS = 30_000;
/**
 * A worker's replacements in a row that died before listening (1 + 2 + 4 + 8 s of waits), with no
 * worker left serving: the primary stops, failed.
 */
const FAILED_STARTS_TO_GIVE_UP = 4;

/**
 * The primary of `keyward start --workers N`. It migrates the database and creates the first
 * signing keys once, then runs N server processes that share the port (node's cluster module).
 * A worker that dies is replaced, unless the first N never all came up, or no worker is serving and
 * the last replacements all died before listening: then all stop, and the exit code says it failed.
 * SIGTERM or SIGINT stops every worker gracefully; resolves with the exit code.
 */
export async function runCluster(config: Config, workers: number): Promise<number> {
  const log = keywardLogger(config.logLevel).child({ role: "primary" });
  // The workers read the secret from its file, made by this process: only it knows it is new.
  if (config.secretSource === "generated") logGeneratedSecret(log, config);
  // It counts no requests: no rate limiter, so no Redis to wait for (or warn about) here.
  const runtime = await openRuntime({ ...config, redisUrl: undefined });
  logMigrationsApplied(log, runtime.opened.migrationsApplied);
  try {
    await runtime.loadKeys(Date.now());
  } finally {
    await runtime.close();
  }
  const live = new Set<Worker>();
  const listening = new Set<Worker>();
  // A worker is up once each of its listeners is: the public one, and the admin one if configured.
  const listenersEach = config.adminListener ? 2 : 1;
  const listeners = new Map<Worker, number>();
  let stopping = false;
  let started = false;
  let exitCode = 0;
  // Each of the N workers has a slot, which its replacements take over, with the count of them
  // that died before listening.
  const slotOf = new Map<Worker, number>();
  const failedStarts = Array.from({ length: workers }, () => 0);
  const replacements = new Set<NodeJS.Timeout>();
  return new Promise<number>((resolve) => {
    const fork = (slot: number) => {
      if (stopping) return;
      const worker = cluster.fork();
      live.add(worker);
      slotOf.set(worker, slot);
    };
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      for (const timer of replacements) clearTimeout(timer);
      for (const worker of live) worker.process.kill("SIGTERM");
      if (live.size === 0) resolve(exitCode);
    };
    cluster.on("listening", (worker) => {
      const heard = (listeners.get(worker) ?? 0) + 1;
      listeners.set(worker, heard);
      if (heard < listenersEach) return;
      listening.add(worker);
      failedStarts[slotOf.get(worker) ?? 0] = 0;
      if (started || listening.size < workers) return;
      started = true;
      log.info(`${workers} workers listening (pid ${process.pid} is the primary)`);
    });
    cluster.on("exit", (worker, code, signal) => {
      const served = listening.has(worker);
      const slot = slotOf.get(worker) ?? 0;
      slotOf.delete(worker);
      live.delete(worker);
      listening.delete(worker);
      listeners.delete(worker);
      if (stopping) {
        if (live.size === 0) resolve(exitCode);
      } else if (!started) {
        log.error({ worker: worker.process.pid, code, signal }, "a worker exited before all were listening; stopping");
        stop(1);
      } else {
        const failed = served ? 0 : (failedStarts[slot] ?? 0) + 1;
        failedStarts[slot] = failed;
        if (failed >= FAILED_STARTS_TO_GIVE_UP && listening.size === 0) {
          log.error(
            { worker: worker.process.pid, code, signal, failedStarts: failed },
            "replacement workers keep exiting before they listen, and no worker is serving; stopping",
          );
          stop(1);
          return;
        }
        const delayMs = Math.min(REPLACE_DELAY_MS * 2 ** failed, MAX_REPLACE_DELAY_MS);
        log.warn({ worker: worker.process.pid, code, signal, delayMs }, "a worker exited; starting a replacement");
        const timer = setTimeout(() => {
          replacements.delete(timer);
          fork(slot);
        }, delayMs);
        replacements.add(timer);
      }
    });
    serveCollections(() => listening);
    const onSignal = (signal: string) => {
      if (stopping) log.info(`${signal} received: still stopping the workers`);
      else stop(0);
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
    for (let slot = 0; slot < workers; slot++) fork(slot);
  });
}
