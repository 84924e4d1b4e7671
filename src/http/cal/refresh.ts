import type { FastifyInstance, FastifyRequest } from "fastify";
import { authenticateClient } from "../../core/clients.js";
import { exchange } from "../../core/token-endpoint.js";
import type { ClientRecord } from "../../store/types.js";
import type { AppDeps } from "../deps.js";
import { logIssuedEvent, logSecurityEvent } from "../security-events.js";
import { fromCoreError, unauthorized } from "./errors.js";
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

/** `POST /oauth/:clientId/refresh`: rotates the refresh token; the client secret in a header. */
export function registerCalRefresh(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Params: { clientId: string } }>(
    "/oauth/:clientId/refresh",
    { schema: { response: KEYS_RESPONSE } },
    async (request, reply) => {
      await throttleAddress(deps, request, reply, "cal-refresh");
      const client = await authenticateBySecretHeader(deps, request);
      await throttleClient(deps, reply, "cal-refresh", client.id);
      const { refreshToken } = readJsonStrings(request, ["refreshToken"]);
      const result = await exchange(deps.core, "refresh_token", { client, format: deps.calTokens, refreshToken });
      if (!result.ok) {
        logSecurityEvent(request.log, deps.metrics, result.error);
        throw fromCoreError(result.error);
      }
      logIssuedEvent(request.log, deps.metrics, result.value.event);
      deps.metrics.tokenIssued("cal", "refresh_token");
      return keysResponse(result.value);
    },
  );
}
