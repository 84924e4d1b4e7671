import type { FastifyBaseLogger } from "fastify";
import type { OAuthError, SecurityEvent } from "../core/errors.js";

const MESSAGES: Record<SecurityEvent["kind"], string> = {
  authorization_code_reused: "authorization code used twice: its lineage is revoked",
  refresh_token_reused: "refresh token used twice: its lineage is revoked",
};

/**
 * Logs, at warn, what a refused token request reveals: a spent code or refresh token presented
 * again means a stolen token or a client that retried, and the integration has just lost access.
 * The user is named by keyward's own id; no token value is logged.
 */
export function logSecurityEvent(log: FastifyBaseLogger, error: OAuthError): void {
  const { event } = error;
  if (!event) return;
  log.warn({ event: event.kind, client_id: event.clientId, user_id: event.userId }, MESSAGES[event.kind]);
}
