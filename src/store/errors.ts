/** How SQLite and PostgreSQL report the conditions the store reacts to. */

type DriverError = { code?: unknown; errors?: unknown };

const codeOf = (error: unknown): string => {
  const code = (error as DriverError | undefined)?.code;
  return typeof code === "string" ? code : "";
};

export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error);
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "23505";
}

/** SQLite's SQLITE_BUSY and its extended codes: another connection holds a lock this statement needs. */
export function isSqliteBusy(error: unknown): boolean {
  return codeOf(error).startsWith("SQLITE_BUSY");
}

/**
 * PostgreSQL refusing a prepared statement whose table's columns changed since it was prepared.
 * Its SQLSTATE (0A000, feature_not_supported) is shared with other refusals; the routine that
 * raised it names this one in any server language, where the message is translated with
 * `lc_messages`. The message is the fallback for a server that does not send the routine.
 */
export function isCachedPlanInvalid(error: unknown): boolean {
  if (codeOf(error) !== "0A000") return false;
  const { routine, message } = error as { routine?: unknown; message?: unknown };
  if (typeof routine === "string") return routine === "RevalidateCachedQuery";
  return typeof message === "string" && message.includes("cached plan must not change");
}

/**
 * A conflict that a fresh attempt resolves: PostgreSQL serialization failures and deadlocks, a
 * prepared statement gone stale (see PreparingPool), SQLite's busy and locked results (including
 * extended codes such as SQLITE_BUSY_SNAPSHOT).
 */
export function isTransientConflict(error: unknown): boolean {
  const code = codeOf(error);
  return (
    code === "40001" ||
    code === "40P01" ||
    isCachedPlanInvalid(error) ||
    isSqliteBusy(error) ||
    code.startsWith("SQLITE_LOCKED")
  );
}

const ATTEMPTS = 5;

/** Runs `work` again after a short randomized pause while it fails with a transient conflict. */
export async function retryOnConflict<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= ATTEMPTS || !isTransientConflict(error)) throw error;
      const pauseMs = Math.random() * 10 * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

/**
 * PostgreSQL refusing text it cannot hold: a NUL character (22021) or one outside the database's
 * encoding (22P05). Whatever brought it came from the request.
 */
export function isUnstorableText(error: unknown): boolean {
  const code = codeOf(error);
  return code === "22021" || code === "22P05";
}

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
  "3D000", // invalid_catalog_name: the database was dropped or renamed
  "28000", // invalid_authorization_specification
  "28P01", // invalid_password: the role's password was changed
]);

/**
 * SQLite's file could not be written or opened (made read-only, or its directory taken away), or
 * its disk is full: a commit that could not be written is rolled back, and works again once there is room.
 */
const SQLITE_UNAVAILABLE_PREFIXES = ["SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL"];

// The last: a database made to refuse connections (ALTER DATABASE ... ALLOW_CONNECTIONS false), whose
// code, 55000 object_not_in_prerequisite_state, also stands for programming errors.
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Query read timeout|is not currently accepting connections/i;

/**
 * PostgreSQL cancelled the statement itself (its statement or lock timeout), or it lost a
 * conflict: it did not commit, where a connection lost after the statement was sent leaves that unknown.
 */
export function certainlyUncommitted(error: unknown): boolean {
  const code = codeOf(error);
  return code === "57014" || code === "55P03" || isTransientConflict(error);
}

export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string; errors?: unknown[] } | undefined;
  if (e?.code && CONNECTION_CODES.has(e.code)) return true;
  if (SQLITE_UNAVAILABLE_PREFIXES.some((prefix) => codeOf(error).startsWith(prefix))) return true;
  // Still conflicting after the store's retries (SQLite busy beyond busy_timeout, repeated deadlocks).
  if (isTransientConflict(error)) return true;
  // Node reports a failed connection to a host with several addresses as an AggregateError.
  if (Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every(isUnavailable)) return true;
  return CONNECTION_MESSAGES.test(e?.message ?? "");
}
