import type { FastifyBaseLogger } from "fastify";
import type { OAuthError, Result } from "../core/errors.js";
import type { IssuedTokens } from "../core/grants/types.js";
import type { Dialect, Metrics } from "./metrics.js";
import { logIssuedEvent, logSecurityEvent } from "./security-events.js";

/**
 * What every token endpoint does with the core's answer: a refusal has its security event logged
 * and is thrown as `refusal` words it for the dialect; issued tokens have their event (a refresh
 * answered again) logged and are counted under the dialect and grant type.
 */
export function issuedOrThrow(
  log: FastifyBaseLogger,
  metrics: Metrics,
  result: Result<IssuedTokens>,
  refusal: (error: OAuthError) => Error,
  dialect: Dialect,
  grantType: string,
): IssuedTokens {
  if (!result.ok) {
    logSecurityEvent(log, metrics, result.error);
    throw refusal(result.error);
  }
  logIssuedEvent(log, metrics, result.value.event);
  metrics.tokenIssued(dialect, grantType);
  return result.value;
}
