import type { FastifyInstance, FastifyRequest } from "fastify";
import { seconds } from "../../core/time.js";
import { exchange, SUPPORTED_GRANT_TYPES } from "../../core/token-endpoint.js";
import { type Introspection, introspect, revoke } from "../../core/token-state.js";
import type { AppDeps } from "../deps.js";
import { forbidCaching } from "../no-store.js";
import { addressWait, clientWait, type RateBucket, retryAfterSeconds } from "../rate-limits.js";
import { issuedOrThrow } from "../token-outcome.js";
import { authenticateCanvaClient } from "./client-auth.js";
import { canvaErrorHandler } from "./error-handler.js";
import { CanvaError, fromCoreError } from "./errors.js";
import { CanvaParams } from "./params.js";
import { INTROSPECTION_RESPONSE, TOKEN_RESPONSE } from "./response-schemas.js";

/** Canva's 429 names the grant type asked for; one keyward does not know is not repeated back. */
const grantLabel = (grantType: string | undefined) =>
  grantType !== undefined && SUPPORTED_GRANT_TYPES.includes(grantType) ? grantType : "token";

/** `token`, `introspect` and `revoke`, mounted under both of Canva's base paths. */
export function registerCanvaOAuthApi(app: FastifyInstance, deps: AppDeps): void {
  const { core } = deps;

  const tooMany = (waitMs: number, label: string) =>
    new CanvaError(429, "too_many_requests", `Too many ${label} requests`, "too_many_requests", {
      "retry-after": retryAfterSeconds(waitMs),
    });

  /** Authenticates the client between the per-address and the per-client rate limits. */
  async function admit(request: FastifyRequest, params: CanvaParams, bucket: RateBucket, label: () => string) {
    // Awaited only when the limiter is remote: an await of a plain number still costs a microtask turn.
    let addressDelay = addressWait(deps, bucket, request.ip);
    if (typeof addressDelay !== "number") addressDelay = await addressDelay;
    if (addressDelay > 0) throw tooMany(addressDelay, label());
    const client = await authenticateCanvaClient(core, request, params);
    let clientDelay = clientWait(deps, bucket, client.id);
    if (typeof clientDelay !== "number") clientDelay = await clientDelay;
    if (clientDelay > 0) throw tooMany(clientDelay, label());
    return client;
  }

  const accessTtlSeconds = Math.round(deps.config.accessTokenTtlMs / 1000);

  app.addHook("onSend", forbidCaching);
  app.setErrorHandler(canvaErrorHandler);

  app.post("/v1/oauth/token", { schema: { response: TOKEN_RESPONSE } }, async (request) => {
    const params = CanvaParams.of(request);
    const client = await admit(request, params, "token", () => grantLabel(params.peek("grant_type")));
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
    const { accessToken, refreshToken, scopes } = issuedOrThrow(
      request.log,
      deps.metrics,
      result,
      fromCoreError,
      "canva",
      grantType,
    );
    return {
      access_token: accessToken.value,
      refresh_token: refreshToken.value,
      token_type: "Bearer",
      // The lifetime it was minted with: its expiry, a whole second, may come up to a second sooner.
      expires_in: accessTtlSeconds,
      scope: scopes.join(" "),
    };
  });

  app.post("/v1/oauth/introspect", { schema: { response: INTROSPECTION_RESPONSE } }, async (request) => {
    const params = CanvaParams.of(request);
    const client = await admit(request, params, "introspect", () => "introspect");
    return introspectionBody(await introspect(core, client, params.required("token")));
  });

  app.post("/v1/oauth/revoke", async (request) => {
    const params = CanvaParams.of(request);
    const client = await admit(request, params, "revoke", () => "revoke");
    const result = await revoke(core, client, params.required("token"));
    if (!result.ok) throw fromCoreError(result.error);
    return {};
  });
}

/**
 * RFC 7662's answer, with Canva's `client` beside `client_id`. `token_type` is RFC 6749's (§5.1),
 * which only access tokens have: a refresh token is answered without one.
 */
function introspectionBody(found: Introspection) {
  if (!found.active) return { active: false };
  const { token, subject } = found;
  return {
    active: true,
    scope: token.scopes.join(" "),
    client: token.clientId,
    client_id: token.clientId,
    token_type: token.kind === "access" ? "Bearer" : undefined,
    exp: seconds(token.expiresAt),
    iat: seconds(token.createdAt),
    nbf: seconds(token.createdAt),
    jti: token.jti,
    sub: subject,
  };
}
