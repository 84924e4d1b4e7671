import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { classifyFailure, markUnavailable, type RequestFailure, UNAVAILABLE_RETRY_AFTER } from "../request-failure.js";
import { CanvaError, internalError, unsupportedMediaType } from "./errors.js";

export function canvaErrorFor(failure: RequestFailure): CanvaError {
  const badBody = (message: string) => new CanvaError(400, "bad_request_body", message, "invalid_request");
  switch (failure.kind) {
    case "body-too-large":
      return badBody("Request body too large");
    case "too-many-parameters":
      return badBody("Request body has too many parameters");
    case "wrong-media-type":
    case "malformed-json":
      return unsupportedMediaType();
    case "unavailable":
      return new CanvaError(
        503,
        "service_unavailable",
        "The service is temporarily unavailable",
        "temporarily_unavailable",
      );
    case "client-error":
      return badBody(failure.message);
    case "internal":
      return internalError();
  }
}

/** Any error inside the Canva scope, in Canva's shape. Never a stack trace, never an unshaped 500. */
export function canvaErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const shaped = error instanceof CanvaError ? error : canvaErrorFor(classifyFailure(error));
  if (shaped.status === 503) {
    if (error instanceof CanvaError) reply.header("retry-after", UNAVAILABLE_RETRY_AFTER);
    else markUnavailable(request, reply, error);
  }
  if (shaped.status === 500) request.log.error({ err: error }, "unexpected error");
  return reply.status(shaped.status).headers(shaped.headers).send(shaped.body());
}

const NOT_FOUND = new CanvaError(404, "not_found", "Not found", "invalid_request");

export function canvaNotFoundHandler(_request: FastifyRequest, reply: FastifyReply) {
  return reply.status(404).send(NOT_FOUND.body());
}
