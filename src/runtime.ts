import { type Config, ConfigError } from "./config.js";
import { AdminAuthThrottle } from "./core/admin-throttle.js";
import type { CoreContext } from "./core/context.js";
import { ServerKeys } from "./core/crypto.js";
import { MemoryRateLimiter, type RateLimiter } from "./core/rate-limit.js";
import { holdsDatabaseSecret } from "./core/secret-check.js";
import { SignInThrottle } from "./core/sign-in-throttle.js";
import { KeyRing } from "./core/signing-keys.js";
import { SigningThread } from "./core/signing-thread.js";
import { CalTokenFormat } from "./http/cal/token-format.js";
import { CanvaTokenFormat } from "./http/canva/token-format.js";
import type { AppDeps } from "./http/deps.js";
import { Metrics } from "./http/metrics.js";
import { type OpenedStore, openStore, type StoreOptions } from "./store/open.js";

export interface Runtime extends AppDeps {
  opened: OpenedStore;
  loadKeys(now: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The longest-lived JWT the published keys sign, access tokens of either dialect: how long a
 * retired key must stay published. Refresh tokens are opaque (Canva) or signed by a secret key
 * (Cal.com), and decided by their stored hash.
 */
export function maxJwtLifetimeMs(config: Config): number {
  return Math.max(config.accessTokenTtlMs, config.calAccessTokenTtlMs);
}

/** Allowance, beyond one key reload, for a reload's own time and for clocks that disagree a little. */
const KEY_ACTIVATION_MARGIN_MS = 2000;

/**
 * How long after its rotation a key starts signing: once every instance has reloaded, and so
 * publishes it. Until then the key it replaced signs, and so must stay published that much longer.
 */
export function keyActivationDelayMs(config: Config): number {
  return config.keyReloadMs + KEY_ACTIVATION_MARGIN_MS;
}

/** How long starting up waits for Redis before serving without it (limits unenforced until it answers). */
const REDIS_CONNECT_WAIT_MS = 2000;

/**
 * Told what the process goes on without, and why (`warn`): once for each time Redis stops
 * answering (rate limits are then counted in this process alone), and if the signing thread is
 * lost; and when Redis answers again (`info`).
 */
export interface RuntimeLog {
  warn(error: Error, message: string): void;
  info(message: string): void;
}

export const REDIS_FALLBACK_MESSAGE = "rate limits are counted by this process alone while Redis is unreachable";
export const REDIS_RESTORED_MESSAGE = "Redis answers again: rate limits are shared by every instance";
export const SIGNING_THREAD_LOST_MESSAGE =
  "the signing thread failed: tokens are signed on the thread pool from now on";

const processLog: RuntimeLog = {
  warn: (error, message) => process.emitWarning(`${message}: ${error.message}`),
  info: () => {},
};

/** Redis when REDIS_URL is set; its client is loaded only then, as it costs every other process memory. */
async function openRateLimiter(config: Config, log: RuntimeLog): Promise<RateLimiter> {
  if (!config.redisUrl) return new MemoryRateLimiter();
  const { RedisRateLimiter } = await import("./store/redis-rate-limiter.js");
  const limiter = new RedisRateLimiter(config.redisUrl, config.redisPrefix, {
    lost: (error) => log.warn(error, REDIS_FALLBACK_MESSAGE),
    restored: () => log.info(REDIS_RESTORED_MESSAGE),
  });
  await limiter.connected(REDIS_CONNECT_WAIT_MS);
  if (limiter.databaseRefused) {
    await limiter.close();
    throw new ConfigError(limiter.databaseRefused.message);
  }
  return limiter;
}

/**
 * Opens the database and assembles the core and its dependencies; shared by the server and the CLI.
 * `storeOptions` are for tests (a failing disk); the pool settings come from `config`.
 */
export async function openRuntime(
  config: Config,
  storeOptions: Omit<StoreOptions, "pool"> = {},
  log: RuntimeLog = processLog,
): Promise<Runtime> {
  const opened = await openStore(config.databaseUrl, { ...storeOptions, pool: config.pool });
  const keys = new ServerKeys(config.secret);
  let holdsSecret: boolean;
  try {
    holdsSecret = await holdsDatabaseSecret(opened.store, keys, Date.now());
  } catch (error) {
    await opened.store.close();
    throw error;
  }
  if (!holdsSecret) {
    await opened.store.close();
    // The schema's migrations need no secret and may have run: said as it is.
    const applied = opened.migrationsApplied;
    const changed =
      applied.length === 0 ? "nothing was changed" : `only the schema was brought up to date (${applied.join(", ")})`;
    const where =
      opened.engine === "sqlite"
        ? " (with no KEYWARD_SECRET, that is the one in keyward.secret beside the database)"
        : "";
    throw new ConfigError(`KEYWARD_SECRET is not the secret this database was set up with${where}; ${changed}`);
  }
  const core: CoreContext = {
    store: opened.store,
    keys,
    issuer: config.issuer,
    now: Date.now,
    codeTtlMs: config.codeTtlMs,
    refreshGraceMs: config.refreshGraceMs,
  };
  const activation = keyActivationDelayMs(config);
  const keyRing = new KeyRing(opened.store, keys, "tokens", activation);
  const webhookKeys = new KeyRing(opened.store, keys, "webhooks", activation);
  let rateLimiter: RateLimiter;
  try {
    rateLimiter = await openRateLimiter(config, log);
  } catch (error) {
    await opened.store.close();
    throw error;
  }
  const limits = config.rateLimits;
  const signing = new SigningThread((error) => log.warn(error, SIGNING_THREAD_LOST_MESSAGE));
  return {
    config,
    core,
    keyRing,
    webhookKeys,
    /** Loads (and on an empty database creates) the keys that sign tokens and webhook notifications. */
    async loadKeys(now) {
      await keyRing.load(now);
      await webhookKeys.load(now);
    },
    canvaTokens: new CanvaTokenFormat(
      keyRing,
      config.accessTokenTtlMs,
      config.refreshTokenTtlMs,
      config.accessTokenAudience,
      signing.sign,
    ),
    calTokens: new CalTokenFormat(keyRing, keys, config.calAccessTokenTtlMs, config.calRefreshTokenTtlMs, signing.sign),
    signInThrottle: new SignInThrottle(
      rateLimiter,
      {
        failuresPerAccount: limits.signInFailuresPerAccount,
        failuresPerAddress: limits.signInFailuresPerAddress,
        windowMs: limits.signInWindowMs,
      },
      (email) => keys.limiterName(email),
    ),
    adminThrottle: new AdminAuthThrottle(rateLimiter, {
      failuresPerAddress: limits.adminFailuresPerAddress,
      windowMs: limits.signInWindowMs,
    }),
    rateLimiter,
    metrics: new Metrics(),
    opened,
    async close() {
      await signing.close();
      await rateLimiter.close();
      await opened.store.close();
    },
  };
}
