import cluster from "node:cluster";
import type { FastifyInstance } from "fastify";
import { type Config, ConfigError, secretFile } from "./config.js";
import { buildAdminApp, buildApp } from "./http/app.js";
import { answerCollections } from "./http/metrics-cluster.js";
import { keywardLogger } from "./logger.js";
import { startPruneTimer } from "./prune-timer.js";
import { openRuntime, type Runtime } from "./runtime.js";
import type { StoreOptions } from "./store/open.js";

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** The admin listener (KEYWARD_ADMIN_PORT), when there is one. */
  admin: { app: FastifyInstance; url: string } | undefined;
  /**
   * Settles when the server stopped itself, after a disk sync of its SQLite WAL failed: it then
   * answers nothing more and closes; the process should exit non-zero so that its supervisor
   * restarts it, and the restart recovers from what the disk holds.
   */
  stoppedOnFailure: Promise<Error>;
  stop(): Promise<void>;
}

/** Addresses no retry can listen on: a host name that names nothing, an address this machine does not have. */
const UNUSABLE_ADDRESS = new Set(["ENOTFOUND", "EADDRNOTAVAIL"]);

/**
 * A listener that could not start, named by the settings that chose its address. An unusable host
 * is a setting keyward cannot use (exit 2); a port taken may be free at the next start (exit 1).
 */
function cannotListen(error: unknown, settings: string): Error {
  const message = `cannot listen on ${settings}: ${(error as Error).message}`;
  const code = (error as { code?: unknown }).code;
  return UNUSABLE_ADDRESS.has(String(code)) ? new ConfigError(message) : new Error(message, { cause: error });
}

/** The listener's address as a URL a client on this machine can use. */
const reachable = (address: string) => address.replace("://localhost", "://127.0.0.1");

/** Starts keyward: schema, signing key, HTTP listeners, the key reload and the prune timers. */
export async function startServer(
  config: Config,
  storeOptions: Omit<StoreOptions, "pool"> = {},
): Promise<RunningServer> {
  // Made before the app, so that what happens while the runtime opens (Redis unreachable) is logged as the rest is.
  const log = keywardLogger(config.logLevel);
  const runtime = await openRuntime(config, storeOptions, {
    warn: (error, message) => log.warn({ err: error }, message),
    info: (message) => log.info(message),
  });
  await runtime.loadKeys(Date.now());
  const app = buildApp(runtime, { loggerInstance: log });
  if (cluster.isWorker) answerCollections(runtime.metrics);
  const reload = setInterval(() => {
    runtime.loadKeys(Date.now()).catch((error) => app.log.warn({ err: error }, "signing key reload failed"));
  }, config.keyReloadMs);
  reload.unref();
  runtime.opened.onConnectionError((error) => app.log.warn({ err: error }, "database connection lost; reconnecting"));
  runtime.opened.onConnectionRestored((message) => app.log.info(message));
  logMigrationsApplied(app.log, runtime.opened.migrationsApplied);
  if (runtime.opened.migrationsAheadOfBuild.length > 0) {
    app.log.warn(
      { migrations: runtime.opened.migrationsAheadOfBuild },
      "the database schema is ahead of this build (a newer build migrated it): running on it as it is",
    );
  }
  const pruner = startPruneTimer(
    runtime.core.store,
    { intervalMs: config.pruneIntervalMs, batchSize: config.pruneBatchSize },
    app.log,
  );
  if (config.secretSource === "generated") logGeneratedSecret(app.log, config);
  let admin: RunningServer["admin"];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(reload);
      // Node stops enforcing the request timeout once the server closes, so a client that stopped
      // sending would hold the shutdown open for good: after that long, its connection is cut.
      const cutStragglers = setTimeout(() => {
        app.log.warn("requests still unfinished after KEYWARD_REQUEST_TIMEOUT: closing their connections");
        for (const listener of [app, admin?.app]) listener?.server.closeAllConnections();
      }, config.requestTimeoutMs);
      cutStragglers.unref();
      await Promise.all([app.close(), admin?.app.close()]);
      clearTimeout(cutStragglers);
      await pruner.stop();
      await runtime.close();
    })();
    return stopping;
  };
  let url: string;
  try {
    const address = await app.listen({
      port: config.port,
      host: config.host,
      listenTextResolver: (listening) =>
        `keyward listening on ${listening} (issuer ${config.issuer}, ${runtime.opened.engine})`,
    });
    url = reachable(address);
  } catch (error) {
    await stop();
    throw cannotListen(error, `HOST=${config.host} PORT=${config.port}`);
  }
  if (config.adminToken && config.adminListener) {
    const adminApp = buildAdminApp(runtime, config.adminToken, {
      loggerInstance: app.log.child({ listener: "admin" }),
    });
    try {
      const adminAddress = await adminApp.listen({
        ...config.adminListener,
        listenTextResolver: (adminUrl) => `keyward admin API listening on ${adminUrl}`,
      });
      admin = { app: adminApp, url: reachable(adminAddress) };
    } catch (error) {
      await adminApp.close();
      await stop();
      const { host, port } = config.adminListener;
      throw cannotListen(error, `KEYWARD_ADMIN_HOST=${host} KEYWARD_ADMIN_PORT=${port}`);
    }
  }
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
  return { app, runtime, url, admin, stoppedOnFailure, stop };
}

/** Once, by the process that brought the schema up to date: a first start on an old database may rebuild tables. */
export function logMigrationsApplied(log: { info(details: object, message: string): void }, applied: string[]): void {
  if (applied.length === 0) return;
  log.info({ migrations: applied }, `brought the database schema up to date: applied ${applied.length} migration(s)`);
}

/** Said once, by whichever process made the secret (a cluster's primary, or the server itself). */
export function logGeneratedSecret(log: { info(details: object, message: string): void }, config: Config): void {
  log.info(
    { secret_file: secretFile(config.databaseUrl) },
    "generated a server secret and stored it beside the database; set KEYWARD_SECRET to manage it yourself",
  );
}
