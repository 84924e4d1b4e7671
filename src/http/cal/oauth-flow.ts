import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.js";
import { forbidCaching } from "../no-store.js";
import { registerCalAuthorize } from "./authorize.js";
import { calErrorHandler, calNotFoundHandler } from "./error-handler.js";
import { registerCalExchange } from "./exchange.js";
import { NOT_JSON } from "./json-body.js";
import { registerCalRefresh } from "./refresh.js";

/**
 * Cal.com reads an empty JSON body as `{}` (Express's body parser does), so a request without one
 * is told which fields are missing, as a request with `{}` is. Otherwise Fastify's parser, with
 * its refusal of `__proto__` and `constructor` keys.
 */
function acceptEmptyJson(scope: FastifyInstance): void {
  const parseJson = scope.getDefaultJsonParser("error", "error");
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if ((body as string).trim() === "") return done(null, {});
    return parseJson(request, body as string, done);
  });
}

/**
 * Cal.com parses JSON bodies alone: a body of any other media type reaches its validation as no
 * body. It is read here (within the body limit) as NOT_JSON, for each endpoint to refuse or ignore.
 */
function readOtherMediaTypesAsNotJson(scope: FastifyInstance): void {
  scope.removeContentTypeParser("application/x-www-form-urlencoded");
  scope.addContentTypeParser("*", { parseAs: "buffer" }, (_request, _body, done) => done(null, NOT_JSON));
}

/** The Cal.com platform OAuth flow, mounted under each of Cal.com's base paths. */
export function registerCalOAuthFlow(scope: FastifyInstance, deps: AppDeps): void {
  acceptEmptyJson(scope);
  readOtherMediaTypesAsNotJson(scope);
  scope.addHook("onSend", forbidCaching);
  scope.setErrorHandler(calErrorHandler);
  scope.setNotFoundHandler(calNotFoundHandler);
  registerCalAuthorize(scope, deps);
  registerCalExchange(scope, deps);
  registerCalRefresh(scope, deps);
}
