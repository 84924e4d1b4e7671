import { pino } from "pino";

/**
 * What a logged error keeps: what says what failed and where. Libraries hang more on their errors,
 * and pino writes every property it finds: ioredis the failed command with its arguments (a
 * password in `AUTH`, rate-limit keys), pg the whole client (connection details, prepared
 * statements), pg's `detail` the values of a violated key.
 */
const KEPT = [
  "message",
  "stack",
  "code",
  "errno",
  "syscall",
  "address",
  "port",
  "severity",
  "routine",
  "schema",
  "table",
  "column",
  "constraint",
  "statusCode",
] as const;

export function loggedError(error: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof error !== "object" || error === null) return error;
  // An error may be its own cause, or hold itself among its errors: each is written once. (pino's
  // own serializer, which this replaces, overflows the stack on the second.)
  if (seen.has(error)) return "[seen above]";
  seen.add(error);
  const fields = error as Record<string, unknown>;
  const kept: Record<string, unknown> = { type: error.constructor?.name ?? "Object" };
  for (const key of KEPT) if (fields[key] !== undefined) kept[key] = fields[key];
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  if (cause !== undefined) kept.cause = loggedError(cause, seen);
  if (Array.isArray(errors)) kept.errors = errors.map((inner) => loggedError(inner, seen));
  return kept;
}

/** keyward's logger: pino's JSON lines (on stdout, or `destination`), errors as `loggedError` keeps them. */
export const keywardLogger = (level: string, destination?: pino.DestinationStream) =>
  pino({ level, serializers: { err: (error: unknown) => loggedError(error) } }, destination);
