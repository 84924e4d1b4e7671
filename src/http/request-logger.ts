import type { FastifyBaseLogger, LogLevel } from "fastify";
import type { Bindings, ChildLoggerOptions } from "pino";

/**
 * A request's logger that becomes a pino child (bound to the request id) only when something is
 * logged through it. Fastify makes that child for every request, and making it serializes the
 * bindings; a token request that logs nothing then pays for a logger it never uses.
 */
class LazyRequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get logger(): FastifyBaseLogger {
    if (this.made === undefined) this.made = this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): LogLevel {
    return (this.made?.level ?? this.options.level ?? this.parent.level) as LogLevel;
  }

  set level(level: LogLevel) {
    this.logger.level = level;
  }

  fatal(...args: unknown[]): void {
    this.log("fatal", args);
  }

  error(...args: unknown[]): void {
    this.log("error", args);
  }

  warn(...args: unknown[]): void {
    this.log("warn", args);
  }

  info(...args: unknown[]): void {
    this.log("info", args);
  }

  debug(...args: unknown[]): void {
    this.log("debug", args);
  }

  trace(...args: unknown[]): void {
    this.log("trace", args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }

  private log(level: Exclude<LogLevel, "silent">, args: unknown[]): void {
    const logger = this.logger;
    (logger[level] as (...values: unknown[]) => void).apply(logger, args);
  }
}

/** Fastify's `childLoggerFactory`: each request gets a LazyRequestLogger. */
export function lazyRequestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
