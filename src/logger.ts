import { pino, stdSerializers } from "pino";

/**
 * What a logged error keeps: what says what failed and where. Libraries hang more on their errors,
 * and pino writes every property it finds: ioredis the failed command with its arguments (a
 * password in `AUTH`, rate-limit keys), pg the whole client (connection details, prepared
 * statements), pg's `detail` the values of a violated key.
 */
const KEPT = [
  "type",
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

export function loggedError(error: unknown): unknown {
  const full = stdSerializers.err(error as Error) as unknown;
  if (typeof full !== "object" || full === null) return full;
  const kept: Record<string, unknown> = {};
  for (const key of KEPT) {
    const value = (full as Record<string, unknown>)[key];
    if (value !== undefined) kept[key] = value;
  }
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  if (cause !== undefined) kept.cause = loggedError(cause);
  if (Array.isArray(errors)) kept.errors = errors.map(loggedError);
  return kept;
}

/** keyward's logger: pino's JSON lines (on stdout, or `destination`), errors as `loggedError` keeps them. */
export const keywardLogger = (level: string, destination?: pino.DestinationStream) =>
  pino({ level, serializers: { err: loggedError } }, destination);
