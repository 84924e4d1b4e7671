import type { FastifyBaseLogger } from "fastify";
import type { Store } from "./store/types.js";

export interface PruneTimer {
  /** Cancels the next run and waits for a running one to finish. */
  stop(): Promise<void>;
}

/**
 * Prunes expired records every `intervalMs` on average. Each wait is drawn from 50–150% of it,
 * so instances started together do not prune in lockstep.
 */
export function startPruneTimer(
  store: Store,
  options: { intervalMs: number; batchSize: number },
  log: FastifyBaseLogger,
): PruneTimer {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = async () => {
    try {
      const counts = await store.pruneExpired(Date.now(), options.batchSize);
      if (Object.values(counts).some((n) => n > 0)) log.info({ pruned: counts }, "pruned expired records");
    } catch (error) {
      log.warn({ err: error }, "pruning expired records failed; will try again");
    }
    schedule();
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        running = run();
      },
      options.intervalMs * (0.5 + Math.random()),
    );
    timer.unref();
  };
  if (options.intervalMs > 0) schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
