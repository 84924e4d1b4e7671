import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { CalError } from "./cal/errors.js";
import { internalError } from "./canva/errors.js";
import { sendHtml, withHtmlHeaders } from "./html.js";
import { errorPage } from "./pages/error.js";

/** The part of keyward a path belongs to, each answering errors in its own shape. */
export type Face = "canva" | "cal" | "pages";

const CAL_PATH = /^\/(api\/)?v2\//;
const CANVA_PATH = /^\/(rest|auth)\//;

/** For answers given outside the routes' own error handlers, which already know their face. */
export function faceOf(path: string): Face {
  if (CAL_PATH.test(path)) return "cal";
  if (CANVA_PATH.test(path)) return "canva";
  return "pages";
}

/**
 * Turns a reply into its face's bare 500 when what the server wrote could not be made durable.
 * Nothing may be acknowledged then, so a redirect or a new session cookie must not go out either.
 * Returns the body to send in place of the reply's own.
 */
export function storageFailureAnswer(request: FastifyRequest, reply: FastifyReply): string {
  reply.removeHeader("location").removeHeader("set-cookie");
  switch (faceOf(request.url)) {
    case "cal":
      reply.status(500).header("content-type", "application/json; charset=utf-8");
      return JSON.stringify(new CalError(500, "Internal server error").envelope(request.url));
    case "canva":
      reply.status(500).header("content-type", "application/json; charset=utf-8");
      return JSON.stringify(internalError().body());
    case "pages":
      withHtmlHeaders(reply, 500);
      return errorPage("Something went wrong", "The request could not be completed.");
  }
}

/**
 * The router's own refusals (Fastify's `frameworkErrors`): a path whose percent-encoding does not
 * decode, or a parameter longer than the router takes. Each face answers in its own shape, with
 * the request id every other answer carries.
 */
export function answerUnroutable(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : 400;
  const message = status === 414 ? "The URL is too long" : "The URL is not validly encoded";
  reply.header("x-request-id", request.id).header("cache-control", "no-store");
  switch (faceOf(request.url)) {
    case "cal":
      return reply.status(status).send(new CalError(status, message).envelope(request.url));
    case "canva":
      return reply
        .status(status)
        .send({ code: "bad_request", message, error: "invalid_request", error_description: message });
    case "pages":
      return sendHtml(reply, status, errorPage("Invalid request", `${message}.`));
  }
}
