import { STATUS_CODES } from "node:http";
import type { OAuthError } from "../../core/errors.js";

/** Cal.com names each error after the exception class its status maps to. */
const EXCEPTIONS: Readonly<Record<number, { name: string; reason: string }>> = {
  400: { name: "BadRequestException", reason: "Bad Request" },
  401: { name: "UnauthorizedException", reason: "Unauthorized" },
  403: { name: "ForbiddenException", reason: "Forbidden" },
  404: { name: "NotFoundException", reason: "Not Found" },
  408: { name: "RequestTimeoutException", reason: "Request Timeout" },
  413: { name: "PayloadTooLargeException", reason: "Payload Too Large" },
  415: { name: "UnsupportedMediaTypeException", reason: "Unsupported Media Type" },
  429: { name: "ThrottlerException", reason: "Too Many Requests" },
  500: { name: "InternalServerErrorException", reason: "Internal Server Error" },
  503: { name: "ServiceUnavailableException", reason: "Service Unavailable" },
};

export interface ValidationFailure {
  property: string;
  constraints: Record<string, string>;
}

/** A Cal.com-dialect error: its status, message and, for body validation, what failed. */
export class CalError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly validationErrors?: ValidationFailure[],
  ) {
    super(message);
  }

  /** Cal.com's error envelope; `details` has the shape of a NestJS exception response. */
  envelope(path: string) {
    // A status without an exception class of its own is a plain HttpException in NestJS.
    const exception = EXCEPTIONS[this.status] ?? {
      name: "HttpException",
      reason: STATUS_CODES[this.status] ?? "Error",
    };
    const details = this.validationErrors
      ? { errors: this.validationErrors }
      : { message: this.message, error: exception.reason, statusCode: this.status };
    return {
      status: "error",
      timestamp: new Date().toISOString(),
      path,
      error: { code: exception.name, message: this.message, details },
    };
  }
}

export const badRequest = (message: string) => new CalError(400, message);
export const unauthorized = (message: string) => new CalError(401, message);
export const forbidden = (message: string) => new CalError(403, message);
export const unsupportedMediaType = () => new CalError(415, "Content-Type must be application/json");

/** Core error kinds to Cal.com statuses; endpoints that answer differently map before calling this. */
export function fromCoreError(error: OAuthError): CalError {
  switch (error.code) {
    case "invalid_client":
      return unauthorized(error.description);
    case "server_error":
      return new CalError(500, "Internal server error");
    case "temporarily_unavailable":
      return new CalError(503, "The service is temporarily unavailable");
    default:
      return badRequest(error.description);
  }
}
