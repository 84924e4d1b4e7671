/**
 * Rate limits as a sliding window: the count of the previous window, weighted by how much of it
 * still overlaps the last `windowMs`, plus the current window's count. Refused requests are not
 * counted, so a caller that backs off recovers.
 */
export interface RateDecision {
  allowed: boolean;
  /** When refused: how long until one more request would be allowed. */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Counts one request against `key` if it fits within `limit` per `windowMs`. */
  consume(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  /** Whether one more request would fit, without counting it. */
  check(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  close(): Promise<void>;
}

export interface WindowCounts {
  current: number;
  previous: number;
}

/** The decision both implementations share, from the two window counts before this request. */
export function decide(counts: WindowCounts, limit: number, windowMs: number, now: number): RateDecision {
  const elapsed = now % windowMs;
  const overlap = 1 - elapsed / windowMs;
  if (counts.previous * overlap + counts.current + 1 <= limit) return { allowed: true, retryAfterMs: 0 };
  if (counts.current + 1 > limit) return { allowed: false, retryAfterMs: windowMs - elapsed + 1 };
  // Wait until enough of the previous window has slid out.
  const neededOverlap = (limit - 1 - counts.current) / counts.previous;
  return { allowed: false, retryAfterMs: Math.max(1, Math.ceil((1 - neededOverlap) * windowMs - elapsed)) };
}

export function windowIndex(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

/** One process's limiter; with several instances, use the Redis one so they share counts. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly counts = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: () => number = Date.now) {
    this.sweeper = setInterval(() => this.counts.clear(), 60 * 60 * 1000);
    this.sweeper.unref();
  }

  private read(key: string, windowMs: number, now: number): { counts: WindowCounts; currentKey: string } {
    const index = windowIndex(now, windowMs);
    const currentKey = `${key}\u0000${windowMs}\u0000${index}`;
    const previousKey = `${key}\u0000${windowMs}\u0000${index - 1}`;
    this.counts.delete(`${key}\u0000${windowMs}\u0000${index - 2}`);
    return {
      counts: { current: this.counts.get(currentKey) ?? 0, previous: this.counts.get(previousKey) ?? 0 },
      currentKey,
    };
  }

  async consume(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const now = this.clock();
    const { counts, currentKey } = this.read(key, windowMs, now);
    const decision = decide(counts, limit, windowMs, now);
    if (decision.allowed) this.counts.set(currentKey, counts.current + 1);
    return decision;
  }

  async check(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const now = this.clock();
    return decide(this.read(key, windowMs, now).counts, limit, windowMs, now);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
