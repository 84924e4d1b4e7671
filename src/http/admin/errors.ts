import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { type ClientFieldProblem, MAX_REDIRECT_URIS } from "../../core/client-registry.js";
import { REDIRECT_URI_RULE } from "../../core/redirect-uri.js";
import { classifyFailure, markUnavailable } from "../request-failure.js";

/** The admin API's errors: RFC 7591's `error` and `error_description`, with an HTTP status. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export const notFound = (what: "client" | "user", id: string) =>
  new AdminError(404, "not_found", `No ${what} with id ${id}`);

/** A registration problem in RFC 7591 §3.2.2's terms, naming the JSON field. */
export function metadataError(p: ClientFieldProblem): AdminError {
  if (p.field === "redirect_uris") {
    const description =
      p.problem === "missing"
        ? "redirect_uris must list at least one URI"
        : p.problem === "too_many"
          ? `redirect_uris may list at most ${MAX_REDIRECT_URIS} URIs`
          : `redirect_uris: ${p.value} is not allowed: ${REDIRECT_URI_RULE}`;
    return new AdminError(400, "invalid_redirect_uri", description);
  }
  if (p.field === "name") return new AdminError(400, "invalid_client_metadata", "client_name is required");
  if (p.problem === "missing") return new AdminError(400, "invalid_client_metadata", "scope is required");
  return new AdminError(400, "invalid_client_metadata", `unknown scope: ${p.value}`);
}

export const ADMIN_UNAVAILABLE_MESSAGE = "The database is unavailable; try again in a moment";

/** The body of every admin API error, also for answers given outside its routes (see faces.ts). */
export function adminErrorBody(error: string, description: string): { error: string; error_description: string } {
  return { error, error_description: description };
}

function send(reply: FastifyReply, status: number, error: string, description: string) {
  return reply.status(status).send(adminErrorBody(error, description));
}

export function adminErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AdminError) {
    reply.headers(error.headers);
    return send(reply, error.status, error.error, error.message);
  }
  const failure = classifyFailure(error);
  switch (failure.kind) {
    case "unavailable":
      markUnavailable(request, reply, error);
      return send(reply, 503, "temporarily_unavailable", ADMIN_UNAVAILABLE_MESSAGE);
    case "internal":
      request.log.error({ err: error }, "unexpected error");
      return send(reply, 500, "server_error", "The request could not be completed");
    case "client-error":
      return send(reply, failure.status, "invalid_request", failure.message);
    case "body-too-large":
      return send(reply, 413, "invalid_request", "Request body too large");
    case "wrong-media-type":
    case "too-many-parameters":
      return send(reply, 415, "invalid_request", "Send a JSON object (application/json)");
    default:
      return send(reply, 400, "invalid_request", "The body is not valid JSON");
  }
}
