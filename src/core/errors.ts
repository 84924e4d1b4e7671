/**
 * Protocol errors are values: core functions return them inside a Result and the
 * HTTP dialects decide how each kind is shaped and which status it gets.
 */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "invalid_scope"
  | "access_denied"
  | "invalid_token"
  | "server_error"
  | "temporarily_unavailable";

export interface OAuthError {
  readonly code: OAuthErrorCode;
  readonly description: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: OAuthError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: OAuthErrorCode, description: string): Result<T> {
  return { ok: false, error: { code, description } };
}
