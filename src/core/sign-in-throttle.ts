import type { RateLimiter } from "./rate-limit.js";
import { MAX_EMAIL_LENGTH } from "./users.js";

export interface SignInPolicy {
  /** Failed sign-ins allowed per account within the window; 0 for no limit. */
  failuresPerAccount: number;
  /** Failed sign-ins allowed per source address within the window: higher, since many people may share one. */
  failuresPerAddress: number;
  windowMs: number;
}

/**
 * Slows down password guessing: once an account, or an address, has used up its failures for the
 * window, further attempts wait until enough of them have aged out. Counts live in the rate
 * limiter, so with Redis every instance sees the same failures.
 */
export class SignInThrottle {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly policy: SignInPolicy,
  ) {}

  /** The counters an attempt uses. An email longer than any account's counts against its address alone. */
  private keys(account: string, address: string): [string, number][] {
    const keys: [string, number][] = [];
    if (this.policy.failuresPerAccount > 0 && account.length <= MAX_EMAIL_LENGTH) {
      keys.push([`signin:account:${account}`, this.policy.failuresPerAccount]);
    }
    if (this.policy.failuresPerAddress > 0) keys.push([`signin:address:${address}`, this.policy.failuresPerAddress]);
    return keys;
  }

  /**
   * Counts a sign-in attempt as a failure before its password is checked, and refuses it (the
   * milliseconds to wait) once the account or the address has used up its failures. Counting
   * first is what holds the limit against guesses sent in parallel: a check made before any of
   * them had failed would let them all through. A refused attempt counts against nothing, so an
   * address that is already refused cannot use up another account's failures.
   */
  async attempt(account: string, address: string): Promise<number> {
    const keys = this.keys(account, address);
    for (const [key, limit] of keys) {
      const decision = await this.limiter.check(key, limit, this.policy.windowMs);
      if (!decision.allowed) return decision.retryAfterMs;
    }
    const counted: string[] = [];
    for (const [key, limit] of keys) {
      const decision = await this.limiter.consume(key, limit, this.policy.windowMs);
      if (!decision.allowed) {
        // A parallel attempt took the last failure between the check and here.
        for (const taken of counted) await this.limiter.release(taken, this.policy.windowMs);
        return decision.retryAfterMs;
      }
      counted.push(key);
    }
    return 0;
  }

  /** The attempt succeeded: it no longer counts as a failure. */
  async succeeded(account: string, address: string): Promise<void> {
    for (const [key] of this.keys(account, address)) await this.limiter.release(key, this.policy.windowMs);
  }
}
