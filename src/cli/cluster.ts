import cluster, { type Worker } from "node:cluster";
import type { Config } from "../config.js";
import { serveCollections } from "../http/metrics-cluster.js";
import { keywardLogger } from "../logger.js";
import { openRuntime } from "../runtime.js";
import { logGeneratedSecret, logMigrationsApplied } from "../server.js";

/** Pause before replacing a worker that died, so a crash loop cannot spin. */
const REPLACE_DELAY_MS = 1000;

/**
 * The primary of `keyward start --workers N`. It migrates the database and creates the first
 * signing keys once, then runs N server processes that share the port (node's cluster module).
 * A worker that dies is replaced, unless the first N never all came up: then all stop.
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
  return new Promise<number>((resolve) => {
    const fork = () => {
      if (!stopping) live.add(cluster.fork());
    };
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      for (const worker of live) worker.process.kill("SIGTERM");
      if (live.size === 0) resolve(exitCode);
    };
    cluster.on("listening", (worker) => {
      const heard = (listeners.get(worker) ?? 0) + 1;
      listeners.set(worker, heard);
      if (heard < listenersEach) return;
      listening.add(worker);
      if (started || listening.size < workers) return;
      started = true;
      log.info(`${workers} workers listening (pid ${process.pid} is the primary)`);
    });
    cluster.on("exit", (worker, code, signal) => {
      live.delete(worker);
      listening.delete(worker);
      listeners.delete(worker);
      if (stopping) {
        if (live.size === 0) resolve(exitCode);
      } else if (!started) {
        log.error({ worker: worker.process.pid, code, signal }, "a worker exited before all were listening; stopping");
        stop(1);
      } else {
        log.warn({ worker: worker.process.pid, code, signal }, "a worker exited; starting a replacement");
        setTimeout(fork, REPLACE_DELAY_MS);
      }
    });
    serveCollections(() => listening);
    process.once("SIGTERM", () => stop(0));
    process.once("SIGINT", () => stop(0));
    for (let i = 0; i < workers; i++) fork();
  });
}
