import type { FastifyBaseLogger, FastifyRequest } from "fastify";
import type { AdminRefusal } from "../core/admin-throttle.js";
import type { OAuthError, SecurityEvent } from "../core/errors.js";
import type { SignInRefusal } from "../core/sign-in-throttle.js";
import type { AppDeps } from "./deps.js";
import type { Metrics } from "./metrics.js";

const MESSAGES: Record<SecurityEvent["kind"], string> = {
  authorization_code_reused: "authorization code used twice: its lineage is revoked",
  refresh_token_reused: "refresh token used twice: its lineage is revoked",
  refresh_token_retried:
    "spent refresh token presented again within the grace period: new tokens replace the ones it got",
};

/** Counts a token event and logs it at `level`, naming the client and keyward's user id, never a token. */
function reportTokenEvent(
  log: FastifyBaseLogger,
  metrics: Metrics,
  event: SecurityEvent,
  level: "info" | "warn",
): void {
  metrics.securityEvent(event.kind);
  log[level]({ event: event.kind, client_id: event.clientId, user_id: event.userId }, MESSAGES[event.kind]);
}

/**
 * Logs, at info, that a refresh was answered again (`refreshTokenGrant`): a client that lost an
 * answer, most often, but also what a stolen token replayed within the grace period looks like.
 */
export function logIssuedEvent(log: FastifyBaseLogger, metrics: Metrics, event: SecurityEvent | undefined): void {
  if (event) reportTokenEvent(log, metrics, event, "info");
}

/**
 * Logs, at warn, what a refused token request reveals: a spent code or refresh token presented
 * again means a stolen token or a client that retried, and the integration has just lost access.
 */
export function logSecurityEvent(log: FastifyBaseLogger, metrics: Metrics, error: OAuthError): void {
  if (error.event) reportTokenEvent(log, metrics, error.event, "warn");
}

/**
 * Logs, at warn, that sign-ins are being refused for too many failures: someone is guessing a
 * password, or an account's owner has forgotten it. Only the first refusal of a window is logged
 * (see SignInRefusal), so a guesser cannot fill the log. The account is named by keyward's user
 * id, and only when it exists: the email typed is the guesser's choice and is not logged.
 */
export async function logSignInRefusal(
  { core, metrics }: Pick<AppDeps, "core" | "metrics">,
  request: FastifyRequest,
  email: string,
  refusal: SignInRefusal,
): Promise<void> {
  metrics.securityEvent("sign_in_throttled");
  const retryAfter = Math.ceil(refusal.retryAfterMs / 1000);
  if (refusal.limited === "address") {
    request.log.warn(
      { event: "sign_in_throttled", limited: "address", address: request.ip, retry_after: retryAfter },
      "sign-ins from this address refused: too many failed attempts",
    );
    return;
  }
  const user = email ? await core.store.getUserByEmail(email) : undefined;
  request.log.warn(
    {
      event: "sign_in_throttled",
      limited: refusal.limited,
      ...(user ? { user_id: user.id } : { account_exists: false }),
      address: request.ip,
      retry_after: retryAfter,
    },
    refusal.limited === "device"
      ? "sign-ins to this account from one of its trusted browsers refused: too many failed attempts"
      : "sign-ins to this account refused: too many failed attempts",
  );
}

/**
 * Logs, at warn, that an address is refused the admin API for too many failed authentications:
 * someone is guessing the admin token, or a caller holds an old one. Only the first refusal of a
 * window is logged (see AdminRefusal).
 */
export function logAdminRefusal(request: FastifyRequest, metrics: Metrics, refusal: AdminRefusal): void {
  metrics.securityEvent("admin_auth_throttled");
  request.log.warn(
    { event: "admin_auth_throttled", address: request.ip, retry_after: Math.ceil(refusal.retryAfterMs / 1000) },
    "admin API requests from this address refused: too many failed authentications",
  );
}
