import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { classifyFailure, markUnavailable, type RequestFailure, UNAVAILABLE_RETRY_AFTER } from "../request-failure.js";
import { badRequest, CalError, unsupportedMediaType } from "./errors.js";

export function calErrorFor(failure: RequestFailure): CalError {
  switch (failure.kind) {
    case "body-too-large":
      return new CalError(413, "Request body is too large");
    // A form body (however many parameters) is the wrong media type before it is anything else.
    case "too-many-parameters":
    case "wrong-media-type":
      return unsupportedMediaType();
    case "malformed-json":
      return badRequest("Request body is not valid JSON");
    case "unavailable":
      return new CalError(503, "The service is temporarily unavailable");
    case "client-error":
      return new CalError(failure.status, failure.message);
    case "internal":
      return new CalError(500, "Internal server error");
  }
}

/** Any error inside the Cal.com scope, in Cal.com's envelope. Never a stack trace. */
export function calErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const shaped = error instanceof CalError ? error : calErrorFor(classifyFailure(error));
  if (shaped.status === 503) {
    if (error instanceof CalError) reply.header("retry-after", UNAVAILABLE_RETRY_AFTER);
    else markUnavailable(request, reply, error);
  }
  if (shaped.status === 500) request.log.error({ err: error }, "unexpected error");
  return reply.status(shaped.status).send(shaped.envelope(request.url));
}

export function calNotFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  const notFound = new CalError(404, `Cannot ${request.method} ${request.url}`);
  return reply.status(404).send(notFound.envelope(request.url));
}
