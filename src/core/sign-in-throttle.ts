interface Failures {
  count: number;
  last: number;
}

/** Failures per key, with a wait that doubles with each failure past the free ones. */
class Backoff {
  private readonly failures = new Map<string, Failures>();

  constructor(
    private readonly freeAttempts: number,
    private readonly baseDelayMs: number,
    private readonly maxDelayMs: number,
  ) {}

  waitFor(key: string, now: number): number {
    const entry = this.failures.get(key);
    if (!entry || entry.count < this.freeAttempts) return 0;
    const delay = Math.min(this.baseDelayMs * 2 ** (entry.count - this.freeAttempts), this.maxDelayMs);
    return Math.max(0, entry.last + delay - now);
  }

  recordFailure(key: string, now: number): void {
    const entry = this.failures.get(key);
    const stale = entry && now - entry.last > this.maxDelayMs * 2;
    this.failures.set(key, { count: stale || !entry ? 1 : entry.count + 1, last: now });
    if (this.failures.size > 100_000) this.forgetOlderThan(now - this.maxDelayMs * 2);
  }

  clear(key: string): void {
    this.failures.delete(key);
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [key, entry] of this.failures) if (entry.last < cutoff) this.failures.delete(key);
  }
}

export interface ThrottlePolicy {
  /** Failures allowed per account before each attempt must wait. */
  accountFreeAttempts: number;
  /** Failures allowed per source address: higher, since many people may share one. */
  addressFreeAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  accountFreeAttempts: 5,
  addressFreeAttempts: 20,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60 * 1000,
};

/**
 * Slows down password guessing, per account and per source address: past the free attempts each
 * further failure doubles the wait, up to `maxDelayMs`. A success clears the account's count only,
 * so one known password does not unlock guessing at others. Kept in memory.
 */
export class SignInThrottle {
  private readonly accounts: Backoff;
  private readonly addresses: Backoff;

  constructor(policy: ThrottlePolicy = DEFAULT_THROTTLE) {
    this.accounts = new Backoff(policy.accountFreeAttempts, policy.baseDelayMs, policy.maxDelayMs);
    this.addresses = new Backoff(policy.addressFreeAttempts, policy.baseDelayMs, policy.maxDelayMs);
  }

  /** Milliseconds to wait before this account may be tried from this address; 0 if none. */
  waitFor(account: string, address: string, now: number): number {
    return Math.max(this.accounts.waitFor(account, now), this.addresses.waitFor(address, now));
  }

  recordFailure(account: string, address: string, now: number): void {
    this.accounts.recordFailure(account, now);
    this.addresses.recordFailure(address, now);
  }

  recordSuccess(account: string): void {
    this.accounts.clear(account);
  }
}
