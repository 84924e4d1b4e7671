import { Redis } from "ioredis";
import {
  decide,
  type MaybePromise,
  MemoryRateLimiter,
  type RateDecision,
  type RateLimiter,
  windowIndex,
} from "../core/rate-limit.js";

/**
 * Reads both window counts and, when the request fits, counts it: one atomic step, so instances
 * sharing this Redis never let more through than the limit between them.
 */
const CONSUME = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local wrote = 0
if tonumber(ARGV[4]) == 1 and previous * tonumber(ARGV[1]) + current + 1 <= tonumber(ARGV[2]) then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  wrote = 1
end
return {current, previous, wrote}
`;

/** How long Redis is left alone after a command failed; this process counts by itself meanwhile. */
const REST_AFTER_FAILURE_MS = 5000;

/** Takes back one count of the current window, never below zero. */
const RELEASE = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

/** Redis's answer to a SELECT of a database it does not have (`REDIS_URL`'s path names the database). */
const DATABASE_REFUSED = /DB index/i;

export interface RedisOutageReport {
  lost(error: Error): void;
  restored(): void;
}

/**
 * Rate limits shared by every instance through one Redis (`REDIS_URL`). While Redis cannot be
 * reached, each process counts alone, in memory: a limit then holds per instance rather than for
 * all of them together, which is looser but never open (a password guesser who can take Redis down
 * still meets the sign-in limits). Counts made meanwhile are not carried over when Redis returns.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly fallback: MemoryRateLimiter;
  private warned = false;
  /**
   * Set when Redis refused the database `REDIS_URL` names. The connection would go on in database
   * 0, another's, so it is closed and this process counts alone from then on.
   */
  databaseRefused: Error | undefined;

  /**
   * `outage.lost` is told why, once, when Redis stops answering; `outage.restored`, once it
   * answers again.
   */
  constructor(
    url: string,
    private readonly prefix: string,
    private readonly outage: RedisOutageReport = { lost: () => {}, restored: () => {} },
    private readonly clock: () => number = Date.now,
  ) {
    // Commands fail at once while disconnected (no offline queue), and wait at most commandTimeout
    // on a Redis that accepts them but does not answer; after either, Redis rests (see `resting`).
    // A connection that is already down never reports its close: without a short
    // disconnectTimeout, closing waits 2 s on it, and so does a shutdown.
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      commandTimeout: 500,
      enableOfflineQueue: false,
      disconnectTimeout: 100,
    });
    this.fallback = new MemoryRateLimiter(clock);
    this.redis.on("error", (error: Error) => {
      if (DATABASE_REFUSED.test(error.message)) this.refuseDatabase(error);
      else this.warnOnce(error);
    });
    this.redis.defineCommand("keywardConsume", { numberOfKeys: 2, lua: CONSUME });
    this.redis.defineCommand("keywardRelease", { numberOfKeys: 1, lua: RELEASE });
  }

  private refuseDatabase(error: Error): void {
    if (this.databaseRefused) return;
    this.databaseRefused = new Error(`Redis refused the database REDIS_URL names (${error.message})`);
    this.redis.disconnect();
    this.warnOnce(this.databaseRefused);
  }

  private warnOnce(error: Error): void {
    if (this.warned) return;
    this.warned = true;
    this.outage.lost(error);
  }

  private windowKey(key: string, windowMs: number, index: number): string {
    return `${this.prefix}${key}:${windowMs}:${index}`;
  }

  /** Until when Redis is left alone after a failure, so that requests do not each wait on it. */
  private restUntil = 0;

  private get resting(): boolean {
    return this.databaseRefused !== undefined || this.clock() < this.restUntil;
  }

  private failed(error: Error): void {
    this.restUntil = this.clock() + REST_AFTER_FAILURE_MS;
    this.warnOnce(error);
  }

  /**
   * Waits, at most `ms`, for the first connection: without an offline queue, commands sent before
   * it would fail, and limits would not hold for the first requests.
   */
  async connected(ms: number): Promise<void> {
    if (this.redis.status === "ready") return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off("ready", done).off("end", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      // "end": the connection was closed for good (see `databaseRefused`).
      this.redis.once("ready", done).once("end", done);
    });
  }

  private async run(key: string, limit: number, windowMs: number, count: boolean): Promise<RateDecision> {
    // Redis unreachable: count here rather than turn every request away; the error is logged once.
    if (this.resting) return this.counted(key, limit, windowMs, count);
    const now = this.clock();
    const index = windowIndex(now, windowMs);
    const overlap = 1 - (now % windowMs) / windowMs;
    try {
      const [current, previous, wrote] = await (
        this.redis as unknown as {
          keywardConsume(...args: (string | number)[]): Promise<[number, number, number]>;
        }
      ).keywardConsume(
        this.windowKey(key, windowMs, index),
        this.windowKey(key, windowMs, index - 1),
        overlap,
        limit,
        windowMs * 2,
        count ? 1 : 0,
      );
      // Only a count it wrote shows Redis works again: one that refuses writes (at maxmemory, say) still
      // reads, and so answers a check, or a request over its limit, which writes nothing.
      if (this.warned && wrote === 1) {
        this.warned = false;
        this.outage.restored();
      }
      return decide({ current, previous }, limit, windowMs, now);
    } catch (error) {
      this.failed(error as Error);
      return this.counted(key, limit, windowMs, count);
    }
  }

  /** The decision of the in-memory limiter, for while Redis is unreachable. */
  private counted(key: string, limit: number, windowMs: number, count: boolean): MaybePromise<RateDecision> {
    return count ? this.fallback.consume(key, limit, windowMs) : this.fallback.check(key, limit, windowMs);
  }

  consume(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    return this.run(key, limit, windowMs, true);
  }

  check(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    return this.run(key, limit, windowMs, false);
  }

  async release(key: string, windowMs: number): Promise<void> {
    if (this.resting) return this.fallback.release(key, windowMs);
    const index = windowIndex(this.clock(), windowMs);
    try {
      await (this.redis as unknown as { keywardRelease(key: string): Promise<number> }).keywardRelease(
        this.windowKey(key, windowMs, index),
      );
    } catch (error) {
      this.failed(error as Error);
    }
  }

  async close(): Promise<void> {
    await this.fallback.close();
    this.redis.disconnect();
  }
}
