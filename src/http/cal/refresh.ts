import type { FastifyInstance, FastifyRequest } from "fastify";
import { authenticateClient } from "../../core/clients.js";
import type { OAuthError } from "../../core/errors.js";
import { exchange } from "../../core/token-endpoint.js";
import type { ClientRecord } from "../../store/types.js";
import type { AppDeps } from "../deps.js";
import { issuedOrThrow } from "../token-outcome.js";
import { badRequest, fromCoreError, unauthorized } from "./errors.js";
import { readJsonStrings } from "./json-body.js";
import { KEYS_RESPONSE, keysResponse } from "./keys-response.js";
import { throttleAddress, throttleClient } from "./throttle.js";

const SECRET_KEY_HEADER = "x-cal-secret-key";

async function authenticateBySecretHeader(
  deps: AppDeps,
  request: FastifyRequest<{ Params: { clientId: string } }>,
): Promise<ClientRecord> {
  const secret = request.headers[SECRET_KEY_HEADER];
  if (typeof secret !== "string" || secret === "") throw unauthorized(`Missing ${SECRET_KEY_HEADER} header.`);
  const result = await authenticateClient(deps.core, { clientId: request.params.clientId, clientSecret: secret });
  if (!result.ok) throw unauthorized("Invalid OAuth client secret.");
  return result.value;
}

/**
 * Cal.com has one answer for a refresh token it cannot use. keyward refuses more than it does (an
 * expired token, a grant whose scopes the client has lost, an empty value), in the same words.
 */
function refreshError(error: OAuthError) {
  const isTokenRefused = error.code === "invalid_grant" || error.code === "invalid_request";
  return isTokenRefused ? badRequest("Invalid refresh token") : fromCoreError(error);
}

/** `POST /oauth/:clientId/refresh`: rotates the refresh token; the client secret in a header. */
export function registerCalRefresh(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Params: { clientId: string } }>(
    "/oauth/:clientId/refresh",
    { schema: { response: KEYS_RESPONSE } },
    async (request, reply) => {
      await throttleAddress(deps, request, reply, "cal-refresh");
      const client = await authenticateBySecretHeader(deps, request);
      await throttleClient(deps, reply, "cal-refresh", client.id);
      const { refreshToken } = readJsonStrings(request, ["refreshToken"], "ignore");
      const result = await exchange(deps.core, "refresh_token", { client, format: deps.calTokens, refreshToken });
      return keysResponse(issuedOrThrow(request.log, deps.metrics, result, refreshError, "cal", "refresh_token"));
    },
  );
}
