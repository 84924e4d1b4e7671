import { addressKey, type RateLimiter } from "./rate-limit.js";

export interface SignInPolicy {
  /**
   * Failed sign-ins allowed per account within the window, from browsers it does not trust; and,
   * apart, from each browser it trusts (see trusted-devices.ts). 0 for no limit.
   */
  failuresPerAccount: number;
  /** Failed sign-ins allowed per source address within the window: higher, since many people may share one. */
  failuresPerAddress: number;
  windowMs: number;
}

/** What refused a sign-in attempt, and for how long. */
export interface SignInRefusal {
  retryAfterMs: number;
  /** The limit used up: the account's, a trusted browser's own for the account, or the source address's. */
  limited: "account" | "device" | "address";
  /**
   * The first refusal for that account or address in about a sign-in window: worth reporting.
   * Later ones are not, or a guesser could fill the log.
   */
  firstInWindow: boolean;
}

type Counter = { key: string; limit: number; kind: SignInRefusal["limited"] };

/**
 * Slows down password guessing: once an account, or an address, has used up its failures for the
 * window, further attempts wait until enough of them have aged out. Counts live in the rate
 * limiter, so with Redis every instance sees the same failures (and the same first refusal).
 */
export class SignInThrottle {
  /**
   * `nameAccount` turns an email into the part of the counter's key that stands for it: the
   * runtime gives a keyed hash, so no email sits in Redis in the clear.
   */
  constructor(
    private readonly limiter: RateLimiter,
    private readonly policy: SignInPolicy,
    private readonly nameAccount: (email: string) => string = (email) => email,
  ) {}

  /**
   * The counters an attempt uses: a browser the account trusts (`device`, its id from
   * `trustedDevice`) has its own instead of the account's. An email of any length has an account
   * counter: accounts stored before emails were checked as lower-cased may be longer than any
   * email accepted today.
   */
  private counters(account: string, address: string | undefined, device: string | undefined): Counter[] {
    const counters: Counter[] = [];
    if (this.policy.failuresPerAccount > 0) {
      counters.push(
        device === undefined
          ? {
              key: `signin:account:${this.nameAccount(account)}`,
              limit: this.policy.failuresPerAccount,
              kind: "account",
            }
          : { key: `signin:device:${device}`, limit: this.policy.failuresPerAccount, kind: "device" },
      );
    }
    if (this.policy.failuresPerAddress > 0) {
      counters.push({
        key: `signin:address:${addressKey(address)}`,
        limit: this.policy.failuresPerAddress,
        kind: "address",
      });
    }
    return counters;
  }

  /**
   * Counts a sign-in attempt as a failure before its password is checked, and refuses it once the
   * account or the address has used up its failures; undefined lets it go ahead. Counting
   * first is what holds the limit against guesses sent in parallel: a check made before any of
   * them had failed would let them all through. A refused attempt counts against nothing, so an
   * address that is already refused cannot use up another account's failures.
   */
  async attempt(account: string, address: string | undefined, device?: string): Promise<SignInRefusal | undefined> {
    const counters = this.counters(account, address, device);
    // Refused by more than one, the attempt waits for the last of them to allow it; the refusal is
    // reported as the first's (the account's before the address's, which names the account).
    let refusing: Counter | undefined;
    let wait = 0;
    for (const counter of counters) {
      const { allowed, retryAfterMs } = await this.limiter.check(counter.key, counter.limit, this.policy.windowMs);
      if (allowed) continue;
      refusing ??= counter;
      wait = Math.max(wait, retryAfterMs);
    }
    if (refusing) return this.refuse(refusing, wait);
    const counted: string[] = [];
    for (const counter of counters) {
      const decision = await this.limiter.consume(counter.key, counter.limit, this.policy.windowMs);
      if (!decision.allowed) {
        // A parallel attempt took the last failure between the check and here.
        for (const taken of counted) await this.limiter.release(taken, this.policy.windowMs);
        return this.refuse(counter, decision.retryAfterMs);
      }
      counted.push(counter.key);
    }
    return undefined;
  }

  /** The refusals of a counter are themselves counted, one allowed per window, to tell the first. */
  private async refuse(counter: Counter, retryAfterMs: number): Promise<SignInRefusal> {
    const first = await this.limiter.consume(`signin-refused:${counter.key}`, 1, this.policy.windowMs);
    return { retryAfterMs, limited: counter.kind, firstInWindow: first.allowed };
  }

  /** The attempt succeeded: it no longer counts as a failure. */
  async succeeded(account: string, address: string | undefined, device?: string): Promise<void> {
    for (const { key } of this.counters(account, address, device))
      await this.limiter.release(key, this.policy.windowMs);
  }
}
