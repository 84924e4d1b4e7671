import type { RateLimiter } from "./rate-limit.js";

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

  private keys(account: string, address: string): [string, number][] {
    const keys: [string, number][] = [];
    if (this.policy.failuresPerAccount > 0) keys.push([`signin:account:${account}`, this.policy.failuresPerAccount]);
    if (this.policy.failuresPerAddress > 0) keys.push([`signin:address:${address}`, this.policy.failuresPerAddress]);
    return keys;
  }

  /**
   * Counts a sign-in attempt as a failure before its password is checked, and refuses it (the
   * milliseconds to wait) once the account or the address has used up its failures. Counting
   * first is what holds the limit against guesses sent in parallel: a check made before any of
   * them had failed would let them all through.
   */
  async attempt(account: string, address: string): Promise<number> {
    for (const [key, limit] of this.keys(account, address)) {
      const decision = await this.limiter.consume(key, limit, this.policy.windowMs);
      if (!decision.allowed) return decision.retryAfterMs;
    }
    return 0;
  }

  /** The attempt succeeded: it no longer counts as a failure. */
  async succeeded(account: string, address: string): Promise<void> {
    for (const [key] of this.keys(account, address)) await this.limiter.release(key, this.policy.windowMs);
  }
}
