import type { FastifyRequest } from "fastify";
import type { AppDeps } from "../deps.js";
import { forbidden } from "./errors.js";

/** A cookie-authenticated request sent by a browser must come from keyward's own pages. */
export function assertSameOrigin(deps: AppDeps, request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== new URL(deps.config.issuer).origin) {
    throw forbidden("Cross-origin requests are not allowed");
  }
}
