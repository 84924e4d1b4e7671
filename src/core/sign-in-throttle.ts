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

  /** Milliseconds to wait before this account may be tried from this address; 0 if none. */
  async waitFor(account: string, address: string): Promise<number> {
    let wait = 0;
    for (const [key, limit] of this.keys(account, address)) {
      const decision = await this.limiter.check(key, limit, this.policy.windowMs);
      wait = Math.max(wait, decision.retryAfterMs);
    }
    return wait;
  }

  async recordFailure(account: string, address: string): Promise<void> {
    for (const [key, limit] of this.keys(account, address)) {
      await this.limiter.consume(key, limit, this.policy.windowMs);
    }
  }
}
