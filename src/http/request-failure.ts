import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { isUnavailable, isUnstorableText } from "../store/errors.js";
import { NotAFormError, TooManyParametersError } from "./form-body.js";

/**
 * What went wrong with a request outside the dialects' own errors: the classification every
 * error handler shares. Each handler only decides how its dialect words and shapes it.
 */
export type RequestFailure =
  | { kind: "body-too-large" }
  | { kind: "too-many-parameters" }
  | { kind: "wrong-media-type" }
  | { kind: "malformed-json" }
  | { kind: "unavailable" }
  | { kind: "client-error"; status: number; message: string }
  | { kind: "internal" };

/** Seconds a client should wait before retrying while the database is unreachable. */
export const UNAVAILABLE_RETRY_AFTER = "5";

const UNAVAILABLE_WARNING_INTERVAL_MS = 60_000;
let lastUnavailableWarning = Number.NEGATIVE_INFINITY;

/**
 * What every 503 for the database's failure carries: Retry-After, and its cause in the log at most
 * once a minute (while the database is unreachable or its disk is full, every request fails the
 * same way, and a line each would flood the log).
 */
export function markUnavailable(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
  reply.header("retry-after", UNAVAILABLE_RETRY_AFTER);
  const now = Date.now();
  if (now - lastUnavailableWarning < UNAVAILABLE_WARNING_INTERVAL_MS) return;
  lastUnavailableWarning = now;
  request.log.warn(
    { err: error },
    "the database cannot do what requests need; answering 503 (logged at most once a minute)",
  );
}

export function classifyFailure(error: unknown): RequestFailure {
  const { code, statusCode, message } = error as Partial<FastifyError>;
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE") return { kind: "body-too-large" };
  if (error instanceof TooManyParametersError) return { kind: "too-many-parameters" };
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" || error instanceof NotAFormError) return { kind: "wrong-media-type" };
  // An empty body is not JSON either (RFC 8259 asks for one value at least).
  if (code === "FST_ERR_CTP_INVALID_JSON_BODY" || code === "FST_ERR_CTP_EMPTY_JSON_BODY")
    return { kind: "malformed-json" };
  // Before the store's failures: a body whose connection reset mid-way fails with ECONNRESET too,
  // but Fastify marks it 400, where no store error carries a status.
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return { kind: "client-error", status: statusCode, message: message ?? "Bad request" };
  }
  if (isUnavailable(error)) return { kind: "unavailable" };
  if (isUnstorableText(error)) {
    return { kind: "client-error", status: 400, message: "The request holds a character that cannot be stored" };
  }
  return { kind: "internal" };
}
