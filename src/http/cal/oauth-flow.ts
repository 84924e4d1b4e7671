import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.js";
import { forbidCaching } from "../no-store.js";
import { registerCalAuthorize } from "./authorize.js";
import { calErrorHandler, calNotFoundHandler } from "./error-handler.js";
import { registerCalExchange } from "./exchange.js";
import { registerCalRefresh } from "./refresh.js";

/** The Cal.com platform OAuth flow, mounted under each of Cal.com's base paths. */
export function registerCalOAuthFlow(scope: FastifyInstance, deps: AppDeps): void {
  scope.addHook("onSend", forbidCaching);
  scope.setErrorHandler(calErrorHandler);
  scope.setNotFoundHandler(calNotFoundHandler);
  registerCalAuthorize(scope, deps);
  registerCalExchange(scope, deps);
  registerCalRefresh(scope, deps);
}
