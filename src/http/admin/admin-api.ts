import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { constantTimeEqual } from "../../core/crypto.js";
import type { AppDeps } from "../deps.js";
import { forbidCaching } from "../no-store.js";
import { retryAfterSeconds } from "../rate-limits.js";
import { logAdminRefusal } from "../security-events.js";
import { registerAdminClients } from "./clients.js";
import { AdminError, adminErrorBody, adminErrorHandler } from "./errors.js";
import { registerAdminMetrics } from "./metrics.js";
import { registerAdminUsers } from "./users.js";
import { registerAdminWebhooks } from "./webhooks.js";

export const ADMIN_PREFIX = "/admin/v1";

export function answerAdminNotFound(_request: FastifyRequest, reply: FastifyReply) {
  return reply.status(404).send(adminErrorBody("not_found", "Not found"));
}

/** The bearer token of a request, or undefined without one. */
function bearerToken(request: FastifyRequest): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? "");
  return match?.[1];
}

/**
 * The admin API: integrations and users managed over HTTP, as `keyward clients` and `keyward users`
 * manage them, for a developer portal or the platform's own account system to call. Served only
 * when KEYWARD_ADMIN_TOKEN is set, and only to requests bearing it (RFC 6750); an address that keeps
 * failing to is refused for a while (AdminAuthThrottle). Each change is logged with the id of what it changed.
 */
export function registerAdminApi(scope: FastifyInstance, deps: AppDeps, adminToken: string): void {
  const { core } = deps;
  const expected = core.keys.hashToken(adminToken);
  scope.addHook("onSend", forbidCaching);
  scope.setErrorHandler(adminErrorHandler);
  scope.setNotFoundHandler(answerAdminNotFound);
  // Bodies are read a named member at a time (`Object.hasOwn`), never merged into another object, so
  // a member named `__proto__` is only an unknown member, ignored as RFC 7591 §2 asks, not an error.
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "string" }, scope.getDefaultJsonParser("ignore", "ignore"));
  scope.addHook("onRequest", async (request) => {
    const refusal = await deps.adminThrottle.refusal(request.ip);
    if (refusal) {
      if (refusal.firstInWindow) logAdminRefusal(request, deps.metrics, refusal);
      throw new AdminError(
        429,
        "too_many_requests",
        "Too many failed authentications from this address; try again later",
        { "retry-after": retryAfterSeconds(refusal.retryAfterMs) },
      );
    }
    const presented = bearerToken(request);
    // Hashed first, so the comparison's time says nothing of the token's length or content.
    if (presented !== undefined && constantTimeEqual(core.keys.hashToken(presented), expected)) return;
    await deps.adminThrottle.failed(request.ip);
    const challenge =
      presented === undefined ? 'Bearer realm="keyward admin"' : 'Bearer realm="keyward admin", error="invalid_token"';
    throw new AdminError(401, "invalid_token", "The admin API needs Authorization: Bearer <KEYWARD_ADMIN_TOKEN>", {
      "www-authenticate": challenge,
    });
  });

  registerAdminClients(scope, deps, ADMIN_PREFIX);
  registerAdminUsers(scope, deps, ADMIN_PREFIX);
  registerAdminMetrics(scope, deps);
  registerAdminWebhooks(scope, deps);
}
