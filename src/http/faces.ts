import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { isUnavailable } from "../store/errors.js";
import { ADMIN_UNAVAILABLE_MESSAGE, adminErrorBody } from "./admin/errors.js";
import { calErrorFor } from "./cal/error-handler.js";
import { CalError } from "./cal/errors.js";
import { canvaErrorFor } from "./canva/error-handler.js";
import { CanvaError } from "./canva/errors.js";
import { HTML_HEADERS, withHtmlHeaders } from "./html.js";
import { errorPage } from "./pages/error.js";
import { markUnavailable, type RequestFailure } from "./request-failure.js";

/** The part of keyward a path belongs to, each answering errors in its own shape. */
export type Face = "canva" | "cal" | "admin" | "pages";

/** How a listener tells the face of a path it was asked for. */
export type FaceOf = (path: string) => Face;

const CAL_PATH = /^\/(api\/)?v2\//;
const CANVA_PATH = /^\/(rest|auth)\//;
const ADMIN_PATH = /^\/admin\/v1(\/|\?|$)/;

/** For answers given outside the routes' own error handlers, which already know their face. */
export const faceOf: FaceOf = (target) => {
  // No path: a request line too broken to read. Browsers send none, so the APIs' shape.
  if (target === "") return "canva";
  // An absolute-form target (`http://host/path`), which Node passes on as the URL, by its path.
  const path = target.startsWith("/") ? target : target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  if (CAL_PATH.test(path)) return "cal";
  if (CANVA_PATH.test(path)) return "canva";
  if (ADMIN_PATH.test(path)) return "admin";
  return "pages";
};

/** The admin listener (KEYWARD_ADMIN_PORT) serves nothing but the admin API. */
export const adminOnly: FaceOf = () => "admin";

/** The public listener's faces: `/admin` is the admin API's only where that is served on it; a page otherwise. */
export const publicFaces = (servesAdmin: boolean): FaceOf =>
  servesAdmin
    ? faceOf
    : (path) => {
        const face = faceOf(path);
        return face === "admin" ? "pages" : face;
      };

/**
 * Turns a reply into its face's answer when what the server wrote could not be committed or made
 * durable: 503 with Retry-After when the database will take writes again (a full disk, an
 * outage), a bare 500 otherwise, each logged as such. Nothing may be acknowledged then, so a
 * redirect or a new session cookie must not go out either. Returns the body to send in place of the reply's own.
 */
export function storageFailureAnswer(face: Face, request: FastifyRequest, reply: FastifyReply, error: unknown): string {
  reply.removeHeader("location").removeHeader("set-cookie");
  const unavailable = isUnavailable(error);
  if (unavailable) markUnavailable(request, reply, error);
  else request.log.error({ err: error }, "writes could not be made durable");
  const failure: RequestFailure = { kind: unavailable ? "unavailable" : "internal" };
  switch (face) {
    case "cal": {
      const shaped = calErrorFor(failure);
      reply.status(shaped.status).header("content-type", `${JSON_TYPE}; charset=utf-8`);
      return JSON.stringify(shaped.envelope(request.url));
    }
    case "canva": {
      const shaped = canvaErrorFor(failure);
      reply.status(shaped.status).header("content-type", `${JSON_TYPE}; charset=utf-8`);
      return JSON.stringify(shaped.body());
    }
    case "admin":
      reply.status(unavailable ? 503 : 500).header("content-type", `${JSON_TYPE}; charset=utf-8`);
      return JSON.stringify(
        unavailable
          ? adminErrorBody("temporarily_unavailable", ADMIN_UNAVAILABLE_MESSAGE)
          : adminErrorBody("server_error", "The request could not be completed"),
      );
    case "pages":
      withHtmlHeaders(reply, unavailable ? 503 : 500);
      return unavailable
        ? errorPage("Temporarily unavailable", "Try again in a moment.")
        : errorPage("Something went wrong", "The request could not be completed.");
  }
}

/**
 * The router's own refusals (Fastify's `frameworkErrors`): a path whose percent-encoding does not
 * decode, or a parameter longer than the router takes. Each face answers in its own shape, with
 * the request id every other answer carries.
 */
export const answerUnroutable =
  (faceOf: FaceOf) => (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const status = error.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : 400;
    const message = status === 414 ? "The URL is too long" : "The URL is not validly encoded";
    const { headers, body } = errorAnswer(faceOf(request.url), status, message, request.url);
    return reply.status(status).header("x-request-id", request.id).headers(headers).send(body);
  };

/** A refusal in the face's own shape: its headers (media type, caching, a page's security headers) and its body. */
export function errorAnswer(
  face: Face,
  status: number,
  message: string,
  path: string,
): { headers: Readonly<Record<string, string>>; body: string } {
  switch (face) {
    case "cal":
      return { headers: JSON_HEADERS, body: JSON.stringify(new CalError(status, message).envelope(path)) };
    case "canva":
      return {
        headers: JSON_HEADERS,
        body: JSON.stringify(new CanvaError(status, "bad_request", message, "invalid_request").body()),
      };
    case "admin":
      return { headers: JSON_HEADERS, body: JSON.stringify(adminErrorBody("invalid_request", message)) };
    case "pages":
      return { headers: HTML_HEADERS, body: errorPage("Invalid request", `${message}.`) };
  }
}

const JSON_TYPE = "application/json";
const JSON_HEADERS = { "content-type": `${JSON_TYPE}; charset=utf-8`, "cache-control": "no-store" };
