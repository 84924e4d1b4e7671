import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { exchange } from "../../core/token-endpoint.js";
import { introspect, revoke } from "../../core/token-state.js";
import type { AppDeps } from "../deps.js";
import { TooManyParametersError } from "../form-body.js";
import { addressWait, clientWait, type RateBucket, retryAfterSeconds } from "../rate-limits.js";
import { isUnavailable } from "../unavailable.js";
import { authenticateCanvaClient } from "./client-auth.js";
import { CanvaError, fromCoreError } from "./errors.js";
import { CanvaParams } from "./params.js";

/** Any error inside the Canva scope, in Canva's shape. Never a stack trace, never an unshaped 500. */
export function canvaErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  let shaped: CanvaError;
  const code = (error as FastifyError).code;
  if (error instanceof CanvaError) shaped = error;
  else if (code === "FST_ERR_CTP_BODY_TOO_LARGE")
    shaped = new CanvaError(400, "bad_request_body", "Request body too large", "invalid_request");
  else if (error instanceof TooManyParametersError)
    shaped = new CanvaError(400, "bad_request_body", "Request body has too many parameters", "invalid_request");
  else if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    shaped = new CanvaError(
      415,
      "unsupported_media_type",
      "Content-Type must be application/x-www-form-urlencoded",
      "invalid_request",
    );
  } else if (isUnavailable(error)) {
    reply.header("retry-after", "5");
    shaped = new CanvaError(
      503,
      "service_unavailable",
      "The service is temporarily unavailable",
      "temporarily_unavailable",
    );
  } else if (((error as FastifyError).statusCode ?? 500) < 500) {
    shaped = new CanvaError(400, "bad_request_body", error.message, "invalid_request");
  } else {
    request.log.error({ err: error }, "unexpected error");
    shaped = new CanvaError(500, "internal_error", "Internal error", "server_error");
  }
  return reply.status(shaped.status).headers(shaped.headers).send(shaped.body());
}

/** `token`, `introspect` and `revoke`, mounted under both of Canva's base paths. */
export function registerCanvaOAuthApi(app: FastifyInstance, deps: AppDeps): void {
  const { core } = deps;

  const tooMany = (waitMs: number, label: string) =>
    new CanvaError(429, "too_many_requests", `Too many ${label} requests`, "too_many_requests", {
      "retry-after": retryAfterSeconds(waitMs),
    });

  /** Authenticates the client between the per-address and the per-client rate limits. */
  async function admit(request: FastifyRequest, params: CanvaParams, bucket: RateBucket, label: () => string) {
    const addressDelay = await addressWait(deps, bucket, request.ip);
    if (addressDelay > 0) throw tooMany(addressDelay, label());
    const client = await authenticateCanvaClient(core, request, params);
    const clientDelay = await clientWait(deps, bucket, client.id);
    if (clientDelay > 0) throw tooMany(clientDelay, label());
    return client;
  }

  app.addHook("onSend", async (_request, reply) => {
    reply.header("cache-control", "no-store");
    reply.header("pragma", "no-cache");
  });
  app.setErrorHandler(canvaErrorHandler);

  app.post("/v1/oauth/token", async (request) => {
    const params = CanvaParams.of(request);
    const client = await admit(request, params, "token", () => params.peek("grant_type") ?? "token");
    const grantType = params.required("grant_type");
    if (grantType === "authorization_code") params.required("code_verifier");
    const result = await exchange(core, grantType, {
      client,
      format: deps.canvaTokens,
      code: grantType === "authorization_code" ? params.required("code") : undefined,
      codeVerifier: params.optional("code_verifier"),
      redirectUri: params.optional("redirect_uri"),
      refreshToken: grantType === "refresh_token" ? params.required("refresh_token") : undefined,
      scope: params.optional("scope"),
    });
    if (!result.ok) throw fromCoreError(result.error);
    const { accessToken, refreshToken, scopes } = result.value;
    return {
      access_token: accessToken.value,
      refresh_token: refreshToken.value,
      token_type: "Bearer",
      expires_in: Math.round((accessToken.expiresAt - core.now()) / 1000),
      scope: scopes.join(" "),
    };
  });

  app.post("/v1/oauth/introspect", async (request) => {
    const params = CanvaParams.of(request);
    const client = await admit(request, params, "introspect", () => "introspect");
    return introspect(core, client, params.required("token"));
  });

  app.post("/v1/oauth/revoke", async (request) => {
    const params = CanvaParams.of(request);
    const client = await admit(request, params, "revoke", () => "revoke");
    const result = await revoke(core, client, params.required("token"));
    if (!result.ok) throw fromCoreError(result.error);
    return {};
  });
}
