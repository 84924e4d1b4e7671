/**
 * Slows down password guessing: after `freeAttempts` failures for one account or one address,
 * each further attempt must wait twice as long as the last, up to `maxDelayMs`. Success clears
 * the account's count. Kept in memory.
 */
export class SignInThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly freeAttempts = 5,
    private readonly baseDelayMs = 1000,
    private readonly maxDelayMs = 15 * 60 * 1000,
  ) {}

  /** Milliseconds the caller must still wait before trying any of these keys again; 0 if none. */
  waitFor(keys: readonly string[], now: number): number {
    let wait = 0;
    for (const key of keys) {
      const entry = this.failures.get(key);
      if (!entry || entry.count < this.freeAttempts) continue;
      const delay = Math.min(this.baseDelayMs * 2 ** (entry.count - this.freeAttempts), this.maxDelayMs);
      wait = Math.max(wait, entry.last + delay - now);
    }
    return Math.max(0, wait);
  }

  recordFailure(keys: readonly string[], now: number): void {
    for (const key of keys) {
      const entry = this.failures.get(key);
      if (entry && now - entry.last > this.maxDelayMs * 2) entry.count = 0;
      this.failures.set(key, { count: (entry?.count ?? 0) + 1, last: now });
    }
    if (this.failures.size > 100_000) this.forgetOldest();
  }

  recordSuccess(keys: readonly string[]): void {
    for (const key of keys) this.failures.delete(key);
  }

  private forgetOldest(): void {
    const cutoff = [...this.failures.values()].map((e) => e.last).sort((a, b) => a - b)[50_000] ?? 0;
    for (const [key, entry] of this.failures) if (entry.last <= cutoff) this.failures.delete(key);
  }
}
