import { addressKey, type MaybePromise, type RateDecision } from "../core/rate-limit.js";
import type { AppDeps } from "./deps.js";

/** The endpoints with their own rate-limit counters. */
export type RateBucket =
  | "token"
  | "introspect"
  | "revoke"
  | "authorize"
  | "cal-authorize"
  | "cal-exchange"
  | "cal-refresh";

function perClientLimit(deps: AppDeps, bucket: RateBucket): number {
  const limits = deps.config.rateLimits;
  return bucket === "introspect" ? limits.introspectPerClient : limits.perClient;
}

const delayOf = (decision: RateDecision) => (decision.allowed ? 0 : decision.retryAfterMs);

/** A number at once from the in-memory limiter; a promise of one from Redis. */
function waitFor(deps: AppDeps, key: string, limit: number): MaybePromise<number> {
  if (limit <= 0) return 0;
  const decision = deps.rateLimiter.consume(key, limit, deps.config.rateLimits.windowMs);
  return decision instanceof Promise ? decision.then(delayOf) : delayOf(decision);
}

/** Counted before authentication, so floods of bad credentials are limited too. Returns ms to wait, 0 if allowed. */
export function addressWait(deps: AppDeps, bucket: RateBucket, address: string | undefined): MaybePromise<number> {
  return waitFor(deps, `${bucket}:address:${addressKey(address)}`, deps.config.rateLimits.perAddress);
}

/** Counted once the client is known. Returns ms to wait, 0 if allowed. */
export function clientWait(deps: AppDeps, bucket: RateBucket, clientId: string): MaybePromise<number> {
  return waitFor(deps, `${bucket}:client:${clientId}`, perClientLimit(deps, bucket));
}

export function retryAfterSeconds(waitMs: number): string {
  return String(Math.max(1, Math.ceil(waitMs / 1000)));
}
