import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { SCOPE_CATALOG } from "../core/scopes.js";
import { SUPPORTED_GRANT_TYPES } from "../core/token-endpoint.js";
import { isUnavailable } from "../store/errors.js";
import { AUTHORIZE_PATH } from "./canva/authorize-page.js";
import type { AppDeps } from "./deps.js";
import { UNAVAILABLE_RETRY_AFTER } from "./request-failure.js";

/** RFC 8414 server metadata, the JWKS (RFC 7517), and the liveness and readiness checks. */
export function registerWellKnown(app: FastifyInstance, deps: AppDeps): void {
  const issuer = deps.config.issuer;
  const authMethods = ["client_secret_basic", "client_secret_post"];
  const metadata = {
    issuer,
    authorization_endpoint: `${issuer}${AUTHORIZE_PATH}`,
    token_endpoint: `${issuer}/rest/v1/oauth/token`,
    introspection_endpoint: `${issuer}/rest/v1/oauth/introspect`,
    revocation_endpoint: `${issuer}/rest/v1/oauth/revoke`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    scopes_supported: Object.keys(SCOPE_CATALOG),
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: SUPPORTED_GRANT_TYPES,
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    authorization_response_iss_parameter_supported: true,
  };

  const answerMetadata = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header("cache-control", "public, max-age=300");
    return metadata;
  };
  app.get("/.well-known/oauth-authorization-server", answerMetadata);
  // An issuer with a path (served behind a proxy that strips it) is discovered, by RFC 8414 §3.1,
  // at the host's root with the path after the well-known name: a proxy may forward that as it is.
  const issuerPath = new URL(issuer).pathname.replace(/\/+$/, "");
  if (issuerPath) app.get(`/.well-known/oauth-authorization-server${issuerPath}`, answerMetadata);

  app.get("/.well-known/jwks.json", async (_request, reply) => {
    reply.header("cache-control", "public, max-age=60");
    return deps.keyRing.jwks();
  });

  // Liveness: the process answers. Restarting it cannot mend a database that is away.
  app.get("/healthz", async () => ({ status: "ok" }));

  // Readiness: the database answers too, so a load balancer can send traffic elsewhere meanwhile.
  // Probes come every few seconds, so an outage is logged when it starts and when it ends, not per probe.
  let ready = true;
  app.get("/readyz", async (request, reply) => {
    try {
      await deps.core.store.ping();
      if (!ready) request.log.info({ event: "ready_again" }, "ready again: the database answers");
      ready = true;
      return { status: "ok" };
    } catch (error) {
      if (!isUnavailable(error)) request.log.error({ err: error }, "readiness check failed");
      else if (ready) request.log.warn({ event: "not_ready", err: error }, "not ready: the database does not answer");
      ready = false;
      reply.status(503).header("retry-after", UNAVAILABLE_RETRY_AFTER).header("cache-control", "no-store");
      return { status: "unavailable" };
    }
  });
}
