/**
 * Rate limits as a sliding window: the count of the previous window, weighted by how much of it
 * still overlaps the last `windowMs`, plus the current window's count. Refused requests are not
 * counted, so a caller that backs off recovers.
 */
import { sha256Base64url } from "./crypto.js";

export interface RateDecision {
  /** Read-only: every allowed request shares one decision (ALLOWED). */
  readonly allowed: boolean;
  /** When refused: how long until one more request would be allowed. */
  readonly retryAfterMs: number;
}

/**
 * A limiter that keeps its counts in the process answers at once; one that asks a server (Redis)
 * answers with a promise. Callers on the request path skip a turn of the microtask queue when the
 * answer is already there.
 */
export type MaybePromise<T> = T | Promise<T>;

export interface RateLimiter {
  /** Counts one request against `key` if it fits within `limit` per `windowMs`. */
  consume(key: string, limit: number, windowMs: number): MaybePromise<RateDecision>;
  /** Whether one more request would fit, without counting it. */
  check(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  /** Takes back one request counted against `key` in the current window, if any was. */
  release(key: string, windowMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface WindowCounts {
  current: number;
  previous: number;
}

/**
 * Every allowed request gets this one object (its fields are read-only to TypeScript). Not frozen: a frozen
 * object's map sent V8 down slow paths that cost more than the allocation saved (callgrind: 261,000
 * main-thread instructions per introspection against 236,000 unfrozen).
 */
const ALLOWED: RateDecision = { allowed: true, retryAfterMs: 0 };

/** The decision both implementations share, from the two window counts before this request. */
export function decide(counts: WindowCounts, limit: number, windowMs: number, now: number): RateDecision {
  const elapsed = now % windowMs;
  const overlap = 1 - elapsed / windowMs;
  if (counts.previous * overlap + counts.current + 1 <= limit) return ALLOWED;
  if (counts.current + 1 > limit) {
    // When this window ends its count weighs on the next as the previous one's, and refuses
    // until enough of it has slid out too: until then, and not before, a retry is allowed.
    const intoNext = Math.ceil((windowMs * (counts.current - limit + 1)) / counts.current);
    return { allowed: false, retryAfterMs: windowMs - elapsed + Math.max(1, intoNext) };
  }
  // Wait until enough of the previous window has slid out.
  const neededOverlap = (limit - 1 - counts.current) / counts.previous;
  return { allowed: false, retryAfterMs: Math.max(1, Math.ceil((1 - neededOverlap) * windowMs - elapsed)) };
}

export function windowIndex(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

/** One key's counts in one window length: the window `index` and the one before it. */
interface WindowEntry {
  index: number;
  current: number;
  previous: number;
}

const SWEEP_INTERVAL_MS = 60_000;

/** One process's limiter; with several instances, use the Redis one so they share counts. */
export class MemoryRateLimiter implements RateLimiter {
  /** By window length, then by key: a request looks up its entry without building a string. */
  private readonly windows = new Map<number, Map<string, WindowEntry>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /**
   * Forgets the keys whose counts have all slid out of their window. Keys still counting stay:
   * clearing everything would hand a throttled caller (a password guesser) a fresh budget.
   */
  sweep(): void {
    const now = this.clock();
    for (const [windowMs, entries] of this.windows) {
      const previous = windowIndex(now, windowMs) - 1;
      for (const [key, entry] of entries) if (entry.index < previous) entries.delete(key);
      if (entries.size === 0) this.windows.delete(windowMs);
    }
  }

  /** How many keys have counts; for tests and diagnostics. */
  get size(): number {
    let keys = 0;
    for (const entries of this.windows.values()) keys += entries.size;
    return keys;
  }

  /** The entry of `key`, rolled forward to the window `now` falls in. */
  private entry(key: string, windowMs: number, now: number): WindowEntry {
    const index = windowIndex(now, windowMs);
    let entries = this.windows.get(windowMs);
    if (!entries) {
      entries = new Map();
      this.windows.set(windowMs, entries);
    }
    let entry = entries.get(key);
    if (!entry) {
      entry = { index, current: 0, previous: 0 };
      entries.set(key, entry);
    } else if (entry.index !== index) {
      entry.previous = entry.index === index - 1 ? entry.current : 0;
      entry.current = 0;
      entry.index = index;
    }
    return entry;
  }

  consume(key: string, limit: number, windowMs: number): RateDecision {
    const now = this.clock();
    const entry = this.entry(key, windowMs, now);
    const decision = decide(entry, limit, windowMs, now);
    if (decision.allowed) entry.current++;
    return decision;
  }

  async check(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const now = this.clock();
    return decide(this.entry(key, windowMs, now), limit, windowMs, now);
  }

  async release(key: string, windowMs: number): Promise<void> {
    const entry = this.windows.get(windowMs)?.get(key);
    if (entry && entry.index === windowIndex(this.clock(), windowMs) && entry.current > 0) entry.current--;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

/** Longer than any address written out (an IPv6 one with a zone fits): text a forwarded header made up. */
const MAX_ADDRESS_CHARS = 64;

/**
 * What per-address limits count a client's address as: an IPv4 address whole (an IPv4-mapped IPv6
 * one as its IPv4), an IPv6 address by its first 64 bits, the least a subscriber is given
 * (RFC 6177), so that one network cannot spread its requests over 2^64 addresses. Anything else
 * (a forwarded header may carry any text) is its own key, by its digest when it is long, so that
 * made-up text cannot fill the limiter's memory. A client whose connection is gone has no address
 * any more (Node forgets it): all such count as one.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return "gone";
  if (address.length > MAX_ADDRESS_CHARS) return `#${sha256Base64url(address)}`;
  // The common case, on every request: an IPv4 address, which has no colon.
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  const groups = ipv6Groups(address);
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : address;
}

/** The eight groups of an IPv6 address, without leading zeros, or undefined if it is not one. */
function ipv6Groups(address: string): string[] | undefined {
  const bare = address.split("%")[0] ?? "";
  // A dotted IPv4 ending is the last two groups; only the first four are kept, so their value does not matter.
  const text = bare.replace(/(^|:)\d{1,3}(?:\.\d{1,3}){3}$/, "$10:0");
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const split = (half: string) => (half === "" ? [] : half.split(":"));
  const head = split(halves[0] ?? "");
  const tail = halves.length === 2 ? split(halves[1] ?? "") : [];
  const given = head.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...head, ...Array<string>(8 - given).fill("0"), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  return groups.map((group) => Number.parseInt(group, 16).toString(16));
}
