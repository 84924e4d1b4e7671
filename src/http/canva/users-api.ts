import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { CoreContext } from "../../core/context.js";
import { accessUser } from "../../core/resource-access.js";
import type { AppDeps } from "../deps.js";
import { CanvaError } from "./errors.js";

function bearerError(status: number, code: string, message: string, rfcError = "invalid_token"): CanvaError {
  return new CanvaError(status, code, message, rfcError, {
    "www-authenticate": `Bearer realm="keyward", error="${rfcError}", error_description="${message}"`,
  });
}

/** RFC 6750 §3.1: a request with no bearer token at all is challenged without an error code. */
function noBearer(message: string): CanvaError {
  return new CanvaError(401, "invalid_access_token", message, "invalid_token", {
    "www-authenticate": 'Bearer realm="keyward"',
  });
}

/** RFC 6750 bearer authentication with Canva's resource errors. */
async function authorize(core: CoreContext, request: FastifyRequest, scope?: string) {
  const header = request.headers.authorization;
  if (!header) throw noBearer("Missing Authorization header");
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1]) {
    if (!/^Bearer(\s|$)/i.test(header)) throw noBearer("Malformed Authorization header");
    throw bearerError(401, "invalid_access_token", "Malformed Authorization header");
  }
  const access = await accessUser(core, match[1], scope);
  switch (access.status) {
    case "granted":
      return access;
    case "revoked":
      throw bearerError(401, "revoked_access_token", "Access token has been revoked");
    case "insufficient_scope":
      throw bearerError(403, "missing_scope", `Missing scopes: ${access.scope}`, "insufficient_scope");
    case "invalid":
      throw bearerError(401, "invalid_access_token", "Access token is invalid");
  }
}

/**
 * The user endpoints may be called from a browser, as Canva's are (its OAuth endpoints may not):
 * they take a bearer token and no cookie, so any origin may read what that token unlocks.
 */
const CORS = { "access-control-allow-origin": "*", "access-control-expose-headers": "www-authenticate, x-request-id" };
const PREFLIGHT = {
  ...CORS,
  "access-control-allow-methods": "GET",
  "access-control-allow-headers": "authorization",
  "access-control-max-age": "600",
};

/** The user endpoints a Canva Connect access token unlocks. */
export function registerCanvaUsersApi(app: FastifyInstance, deps: AppDeps): void {
  const { core } = deps;
  const allowBrowsers = {
    onRequest: async (_request: FastifyRequest, reply: FastifyReply) => void reply.headers(CORS),
  };

  app.get("/v1/users/me", allowBrowsers, async (request) => {
    const { userId, teamId } = await authorize(core, request);
    return { team_user: { user_id: userId, team_id: teamId } };
  });

  app.get("/v1/users/me/profile", allowBrowsers, async (request) => {
    const { user } = await authorize(core, request, "profile:read");
    return { profile: { display_name: user.displayName } };
  });

  for (const path of ["/v1/users/me", "/v1/users/me/profile"]) {
    app.options(path, async (_request, reply) => reply.status(204).headers(PREFLIGHT).send());
  }
}
