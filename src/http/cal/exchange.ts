import type { FastifyInstance, FastifyRequest } from "fastify";
import { authenticateClient } from "../../core/clients.js";
import type { OAuthError } from "../../core/errors.js";
import { exchange } from "../../core/token-endpoint.js";
import type { AppDeps } from "../deps.js";
import { issuedOrThrow } from "../token-outcome.js";
import { badRequest, fromCoreError } from "./errors.js";
import { readJsonStrings } from "./json-body.js";
import { KEYS_RESPONSE, keysResponse } from "./keys-response.js";
import { throttleAddress, throttleClient } from "./throttle.js";

function bearerCode(request: FastifyRequest): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "");
  if (!match?.[1]) throw badRequest("Missing 'Bearer' Authorization header.");
  return match[1];
}

/** Cal.com gives one answer for a wrong client, a wrong secret and a bad code alike. */
function exchangeError(error: OAuthError) {
  const isCredentialOrCode = error.code === "invalid_client" || error.code === "invalid_grant";
  return isCredentialOrCode ? badRequest("Invalid OAuth Client.") : fromCoreError(error);
}

/** `POST /oauth/:clientId/exchange`: the code in a Bearer header, the client secret in the body. */
export function registerCalExchange(app: FastifyInstance, deps: AppDeps): void {
  const { core } = deps;

  app.post<{ Params: { clientId: string } }>(
    "/oauth/:clientId/exchange",
    { schema: { response: KEYS_RESPONSE } },
    async (request, reply) => {
      await throttleAddress(deps, request, reply, "cal-exchange");
      // Cal.com validates the body before it reads the code.
      const { clientSecret } = readJsonStrings(request, ["clientSecret"], "ignore");
      const code = bearerCode(request);
      const authenticated = await authenticateClient(core, { clientId: request.params.clientId, clientSecret });
      if (!authenticated.ok) throw exchangeError(authenticated.error);
      await throttleClient(deps, reply, "cal-exchange", authenticated.value.id);
      const result = await exchange(core, "authorization_code", {
        client: authenticated.value,
        format: deps.calTokens,
        code,
      });
      return keysResponse(issuedOrThrow(request.log, deps.metrics, result, exchangeError, "cal", "authorization_code"));
    },
  );
}
