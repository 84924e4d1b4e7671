import { addressKey, type RateLimiter } from "./rate-limit.js";

export interface AdminThrottlePolicy {
  /** Failed authentications allowed per source address within the window; 0 for no limit. */
  failuresPerAddress: number;
  windowMs: number;
}

export interface AdminRefusal {
  retryAfterMs: number;
  /** The first refusal of the address in about a window: worth reporting (see SignInRefusal). */
  firstInWindow: boolean;
}

/**
 * Slows down guessing of the admin token. Once a source address has failed to authenticate
 * `failuresPerAddress` times within the window, every request from it is refused until enough of
 * the failures have aged out, bearing the right token or not: answering a right guess would tell
 * the guesser. Only failures are counted, after the check, so a portal's many parallel calls
 * never use up its own address's budget. Guesses sent in parallel can overshoot the limit by as
 * many as are in flight at once; a token of 32 or more characters does not feel that.
 */
export class AdminAuthThrottle {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly policy: AdminThrottlePolicy,
  ) {}

  private key(address: string | undefined): string {
    return `admin-auth:address:${addressKey(address)}`;
  }

  /** Why a request from `address` must be refused before its token is looked at; undefined if it need not. */
  async refusal(address: string | undefined): Promise<AdminRefusal | undefined> {
    const { failuresPerAddress, windowMs } = this.policy;
    if (failuresPerAddress <= 0) return undefined;
    const decision = await this.limiter.check(this.key(address), failuresPerAddress, windowMs);
    if (decision.allowed) return undefined;
    // The refusals are counted too, one allowed per window, to tell the first.
    const first = await this.limiter.consume(`admin-auth-refused:${addressKey(address)}`, 1, windowMs);
    return { retryAfterMs: decision.retryAfterMs, firstInWindow: first.allowed };
  }

  /** Counts a request from `address` whose token was missing or wrong. */
  async failed(address: string | undefined): Promise<void> {
    const { failuresPerAddress, windowMs } = this.policy;
    if (failuresPerAddress > 0) await this.limiter.consume(this.key(address), failuresPerAddress, windowMs);
  }
}
