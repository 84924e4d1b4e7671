import { isTransientConflict } from "../store/errors.js";

/** Errors that mean the database cannot serve the request right now: answered with 503, never 500. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "57014", // query_canceled: statement_timeout
  "55P03", // lock_not_available
  "25P03", // idle_in_transaction_session_timeout
  "08000",
  "08001",
  "08003",
  "08006",
  "53300", // too_many_connections
]);

const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Query read timeout/i;

export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string; errors?: unknown[] } | undefined;
  if (e?.code && CONNECTION_CODES.has(e.code)) return true;
  // Still conflicting after the store's retries (SQLite busy beyond busy_timeout, repeated deadlocks).
  if (isTransientConflict(error)) return true;
  // Node reports a failed connection to a host with several addresses as an AggregateError.
  if (Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every(isUnavailable)) return true;
  return CONNECTION_MESSAGES.test(e?.message ?? "");
}
