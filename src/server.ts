import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { buildApp } from "./http/app.js";
import { startPruneTimer } from "./prune-timer.js";
import { openRuntime, type Runtime } from "./runtime.js";
import type { StoreOptions } from "./store/open.js";

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /**
   * Settles when the server stopped itself, after a disk sync of its SQLite WAL failed: it then
   * answers nothing more and closes; the process should exit non-zero so that its supervisor
   * restarts it, and the restart recovers from what the disk holds.
   */
  stoppedOnFailure: Promise<Error>;
  stop(): Promise<void>;
}

/** Starts keyward: schema, signing key, HTTP listener, the key reload and the prune timers. */
export async function startServer(
  config: Config,
  storeOptions: Omit<StoreOptions, "pool"> = {},
): Promise<RunningServer> {
  const runtime = await openRuntime(config, storeOptions);
  await runtime.keyRing.load(Date.now());
  const app = buildApp(runtime, { logger: { level: config.logLevel } });
  const reload = setInterval(() => {
    runtime.keyRing.load(Date.now()).catch((error) => app.log.warn({ err: error }, "signing key reload failed"));
  }, config.keyReloadMs);
  reload.unref();
  runtime.opened.onConnectionError((error) => app.log.warn({ err: error }, "database connection lost; reconnecting"));
  const pruner = startPruneTimer(
    runtime.core.store,
    { intervalMs: config.pruneIntervalMs, batchSize: config.pruneBatchSize },
    app.log,
  );
  if (config.secretSource === "generated") {
    app.log.info(
      "generated a server secret and stored it beside the database; set KEYWARD_SECRET to manage it yourself",
    );
  }
  const address = await app.listen({
    port: config.port,
    host: config.host,
    listenTextResolver: (url) => `keyward listening on ${url} (issuer ${config.issuer}, ${runtime.opened.engine})`,
  });
  const url = address.replace("://localhost", "://127.0.0.1");
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(reload);
      await app.close();
      await pruner.stop();
      await runtime.close();
    })();
    return stopping;
  };
  const stoppedOnFailure = new Promise<Error>((resolve) => {
    runtime.opened.onDurabilityLost((error) => {
      app.log.fatal({ err: error }, "the database's writes could not be synced to disk; stopping");
      const stopped = () => resolve(error);
      stop().then(stopped, (closeError: unknown) => {
        app.log.error({ err: closeError }, "stopping after the failed disk sync did not finish cleanly");
        stopped();
      });
    });
  });
  return { app, runtime, url, stoppedOnFailure, stop };
}
