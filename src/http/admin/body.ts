import type { FastifyRequest } from "fastify";
import {
  type ClientFields,
  isPreviousSecretLifetime,
  MAX_PREVIOUS_SECRET_SECONDS,
} from "../../core/client-registry.js";
import { isJsonMediaType } from "../media-type.js";
import { AdminError } from "./errors.js";

/**
 * The request's JSON object body, read through `member`. Any other media type is refused. Members
 * keyward does not know are ignored, as RFC 7591 §2 asks.
 */
function jsonObject(request: FastifyRequest): (name: string) => unknown {
  const body = readJsonObject(request);
  return (name) => (Object.hasOwn(body, name) ? (body as Record<string, unknown>)[name] : undefined);
}

/** The request's body (or what it parsed to, when the route keeps its text), which must be a JSON object. */
export function readJsonObject(request: FastifyRequest, body: unknown = request.body): object {
  if (!isJsonMediaType(request.headers["content-type"])) {
    throw new AdminError(415, "invalid_request", "Send a JSON object (application/json)");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AdminError(400, "invalid_request", "The body must be a JSON object");
  }
  return body;
}

function optionalString(member: (name: string) => unknown, name: string, error: string): string | undefined {
  const value = member(name);
  if (value !== undefined && typeof value !== "string") throw new AdminError(400, error, `${name} must be a string`);
  // JSON can escape half a surrogate pair (`"\ud800"`); stored as UTF-8 it would come back as
  // U+FFFD, and the value given would no longer find what it made.
  if (value !== undefined && /\p{Cs}/u.test(value)) {
    throw new AdminError(400, error, `${name} holds an unpaired surrogate (\\ud800-\\udfff), which is not text`);
  }
  // PostgreSQL cannot hold a NUL; SQLite can, but keyward never looks one up. Both engines refuse it alike.
  if (value?.includes("\u0000")) throw new AdminError(400, error, `${name} holds a NUL character (\\u0000)`);
  return value;
}

/** RFC 7591's names for the fields keyward keeps. */
export function readClientFields(request: FastifyRequest): ClientFields {
  const member = jsonObject(request);
  const redirectUris = member("redirect_uris");
  if (
    redirectUris !== undefined &&
    !(Array.isArray(redirectUris) && redirectUris.every((u) => typeof u === "string"))
  ) {
    throw new AdminError(400, "invalid_redirect_uri", "redirect_uris must be an array of strings");
  }
  return {
    name: optionalString(member, "client_name", "invalid_client_metadata"),
    redirectUris,
    scope: optionalString(member, "scope", "invalid_client_metadata"),
  };
}

export interface UserFields {
  email?: string;
  password?: string;
  displayName?: string;
}

export function readUserFields(request: FastifyRequest): UserFields {
  const member = jsonObject(request);
  return {
    email: optionalString(member, "email", "invalid_request"),
    password: optionalString(member, "password", "invalid_request"),
    displayName: optionalString(member, "display_name", "invalid_request"),
  };
}

/**
 * A secret rotation's one option: how long the replaced secret keeps working, in seconds. The
 * body may be left out altogether; then it stops at once.
 */
export function readRotation(request: FastifyRequest): number | undefined {
  if (request.body === undefined && request.headers["content-type"] === undefined) return undefined;
  const lifetime = jsonObject(request)("previous_secret_valid_for");
  if (lifetime === undefined) return undefined;
  if (!isPreviousSecretLifetime(lifetime)) {
    throw new AdminError(
      400,
      "invalid_request",
      `previous_secret_valid_for must be a whole number of seconds from 1 to ${MAX_PREVIOUS_SECRET_SECONDS}`,
    );
  }
  return lifetime;
}
