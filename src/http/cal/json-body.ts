import type { FastifyRequest } from "fastify";
import { isJsonMediaType } from "../media-type.js";
import { CalError, unsupportedMediaType, type ValidationFailure } from "./errors.js";

/**
 * What a body of another media type than JSON reads as in the Cal.com scope: Cal.com parses JSON
 * alone, so such a body reaches its validation as no body at all.
 */
export const NOT_JSON = Symbol("a body that is not JSON");

/**
 * `refuse` answers 415 to any other media type than JSON: a cross-site form can send those, and
 * never `application/json`, so the endpoint a session cookie authorizes refuses them. `ignore`
 * reads them as no body, as Cal.com does, where no cookie is involved.
 */
export type OtherMediaTypes = "refuse" | "ignore";

/**
 * The named string fields of a JSON object body, each required. As in Cal.com's DTOs
 * (`@IsString()` alone), an empty string is a string; what it names is then refused as unknown.
 */
export function readJsonStrings<K extends string>(
  request: FastifyRequest,
  names: readonly K[],
  otherMediaTypes: OtherMediaTypes,
): Record<K, string> {
  const hasBody = request.body !== undefined && request.body !== null;
  const isJson = hasBody && request.body !== NOT_JSON && isJsonMediaType(request.headers["content-type"]);
  if (hasBody && !isJson && otherMediaTypes === "refuse") throw unsupportedMediaType();
  const body = isJson ? request.body : undefined;
  const object = typeof body === "object" && body !== null && !Array.isArray(body) ? body : {};
  const values: Record<string, string> = {};
  const failures: ValidationFailure[] = [];
  for (const name of names) {
    const value: unknown = Object.hasOwn(object, name) ? (object as Record<string, unknown>)[name] : undefined;
    if (typeof value === "string") values[name] = value;
    else failures.push({ property: name, constraints: { isString: `${name} must be a string` } });
  }
  if (failures.length > 0) {
    const message = failures.flatMap((f) => Object.values(f.constraints)).join("; ");
    throw new CalError(400, message, failures);
  }
  return values as Record<K, string>;
}
