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

/** Something an operator should hear of, carried beside the error the client is told. */
export interface SecurityEvent {
  /**
   * `*_reused`: a code or refresh token was presented after it had been spent, and its lineage was
   * revoked for it. `refresh_token_retried`: a refresh token was presented again within the grace
   * period, and its rotation answered again.
   */
  readonly kind: "authorization_code_reused" | "refresh_token_reused" | "refresh_token_retried";
  readonly clientId: string;
  readonly userId: string;
}

export interface OAuthError {
  readonly code: OAuthErrorCode;
  readonly description: string;
  /** Never sent to the client: the HTTP layer logs it. */
  readonly event?: SecurityEvent;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: OAuthError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: OAuthErrorCode, description: string, event?: SecurityEvent): Result<T> {
  return { ok: false, error: event ? { code, description, event } : { code, description } };
}
