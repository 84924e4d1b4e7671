import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CoreContext } from "../../core/context.js";
import { checkAccessToken } from "../../core/token-state.js";
import type { TokenWithGrant } from "../../store/types.js";
import type { AppDeps } from "../deps.js";
import { CanvaError } from "./errors.js";

function bearerError(status: number, code: string, message: string, rfcError = "invalid_token"): CanvaError {
  return new CanvaError(status, code, message, rfcError, {
    "www-authenticate": `Bearer realm="keyward", error="${rfcError}", error_description="${message}"`,
  });
}

/** RFC 6750 bearer authentication with Canva's resource errors. */
async function authorize(core: CoreContext, request: FastifyRequest, scope?: string): Promise<TokenWithGrant> {
  const header = request.headers.authorization;
  if (!header) throw bearerError(401, "invalid_access_token", "Missing Authorization header");
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1]) throw bearerError(401, "invalid_access_token", "Malformed Authorization header");
  const check = await checkAccessToken(core, match[1]);
  if (check.status === "revoked") throw bearerError(401, "revoked_access_token", "Access token has been revoked");
  if (check.status !== "valid") throw bearerError(401, "invalid_access_token", "Access token is invalid");
  if (scope && !check.token.scopes.includes(scope)) {
    throw bearerError(403, "missing_scope", `Missing scopes: ${scope}`, "insufficient_scope");
  }
  return check.token;
}

/** The user endpoints a Canva Connect access token unlocks. */
export function registerCanvaUsersApi(app: FastifyInstance, deps: AppDeps): void {
  const { core } = deps;

  app.get("/v1/users/me", async (request) => {
    const token = await authorize(core, request);
    const user = await core.store.getUserById(token.userId);
    if (!user) throw bearerError(401, "invalid_access_token", "Access token is invalid");
    return {
      team_user: {
        user_id: core.keys.pairwiseId(token.clientId, user.id),
        team_id: core.keys.pairwiseId(token.clientId, `team\u0000${user.teamId}`),
      },
    };
  });

  app.get("/v1/users/me/profile", async (request) => {
    const token = await authorize(core, request, "profile:read");
    const user = await core.store.getUserById(token.userId);
    if (!user) throw bearerError(401, "invalid_access_token", "Access token is invalid");
    return { profile: { display_name: user.displayName } };
  });
}
