import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { TooManyParametersError } from "../form-body.js";
import { isUnavailable } from "../unavailable.js";
import { badRequest, CalError, unsupportedMediaType } from "./errors.js";

function shape(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): CalError {
  if (error instanceof CalError) return error;
  const { code, statusCode } = error as FastifyError;
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE") return new CalError(413, "Request body is too large");
  // A form body (however large) is the wrong media type before it is anything else.
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" || error instanceof TooManyParametersError) {
    return unsupportedMediaType();
  }
  if (code === "FST_ERR_CTP_INVALID_JSON_BODY") return badRequest("Request body is not valid JSON");
  if (isUnavailable(error)) {
    reply.header("retry-after", "5");
    return new CalError(503, "The service is temporarily unavailable");
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) return new CalError(statusCode, error.message);
  request.log.error({ err: error }, "unexpected error");
  return new CalError(500, "Internal server error");
}

/** Any error inside the Cal.com scope, in Cal.com's envelope. Never a stack trace. */
export function calErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const shaped = shape(error, request, reply);
  return reply.status(shaped.status).send(shaped.envelope(request.url));
}

export function calNotFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  const notFound = new CalError(404, `Cannot ${request.method} ${request.url}`);
  return reply.status(404).send(notFound.envelope(request.url));
}
