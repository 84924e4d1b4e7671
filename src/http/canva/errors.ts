import type { OAuthError } from "../../core/errors.js";

/**
 * A Canva-dialect error. The body carries Canva's `code` and `message` and RFC 6749's `error`
 * and `error_description` side by side, so Canva clients and standard OAuth libraries both read it.
 */
export class CanvaError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly oauthError: string = code,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body() {
    return { code: this.code, message: this.message, error: this.oauthError, error_description: this.message };
  }
}

/** A body that is not a form: the token, introspection and revocation endpoints read nothing else. */
export const unsupportedMediaType = () =>
  new CanvaError(
    415,
    "unsupported_media_type",
    "Content-Type must be application/x-www-form-urlencoded",
    "invalid_request",
  );

/** The answer to anything unexpected: no detail leaves the server. */
export const internalError = () => new CanvaError(500, "internal_error", "Internal error", "server_error");

/** Core error kinds to the statuses and codes Canva answers with. */
export function fromCoreError(error: OAuthError, headers: Record<string, string> = {}): CanvaError {
  switch (error.code) {
    case "invalid_client":
      return new CanvaError(401, "invalid_client", error.description, "invalid_client", headers);
    case "invalid_token":
      return new CanvaError(400, "bad_request_params", error.description, "invalid_request");
    case "server_error":
      return new CanvaError(500, "internal_error", error.description, "server_error");
    case "temporarily_unavailable":
      return new CanvaError(503, "service_unavailable", error.description, "temporarily_unavailable");
    default:
      return new CanvaError(400, error.code, error.description, error.code);
  }
}

export const invalidField = (message: string) => new CanvaError(400, "invalid_field", message, "invalid_request");
