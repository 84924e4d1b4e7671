import type { FastifyRequest } from "fastify";
import type { ClientFields } from "../../core/client-registry.js";
import { AdminError } from "./errors.js";

const invalid = (description: string) => new AdminError(400, "invalid_client_metadata", description);

/** RFC 7591's names for the fields keyward keeps; other members are ignored, as §2 asks. */
export function readClientFields(request: FastifyRequest): ClientFields {
  if (request.headers["content-type"]?.split(";")[0]?.trim().toLowerCase() !== "application/json") {
    throw new AdminError(415, "invalid_request", "Send a JSON object (application/json)");
  }
  const body: unknown = request.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AdminError(400, "invalid_request", "The body must be a JSON object");
  }
  const member = (name: string): unknown =>
    Object.hasOwn(body, name) ? (body as Record<string, unknown>)[name] : undefined;
  const name = member("client_name");
  const redirectUris = member("redirect_uris");
  const scope = member("scope");
  if (name !== undefined && typeof name !== "string") throw invalid("client_name must be a string");
  if (scope !== undefined && typeof scope !== "string")
    throw invalid("scope must be a string of space-separated scopes");
  if (
    redirectUris !== undefined &&
    !(Array.isArray(redirectUris) && redirectUris.every((u) => typeof u === "string"))
  ) {
    throw new AdminError(400, "invalid_redirect_uri", "redirect_uris must be an array of strings");
  }
  return { name, redirectUris, scope };
}
