import type { FastifyBaseLogger, FastifyLogFn, LogLevel } from "fastify";
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
    call(this.logger.fatal, this.logger, args);
  }

  error(...args: unknown[]): void {
    call(this.logger.error, this.logger, args);
  }

  warn(...args: unknown[]): void {
    call(this.logger.warn, this.logger, args);
  }

  info(...args: unknown[]): void {
    call(this.logger.info, this.logger, args);
  }

  debug(...args: unknown[]): void {
    call(this.logger.debug, this.logger, args);
  }

  trace(...args: unknown[]): void {
    call(this.logger.trace, this.logger, args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

function call(method: FastifyLogFn, logger: FastifyBaseLogger, args: unknown[]): void {
  (method as (...values: unknown[]) => void).apply(logger, args);
}

/** Fastify's `childLoggerFactory`: each request gets a LazyRequestLogger. */
export function lazyRequestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
