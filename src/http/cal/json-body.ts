import type { FastifyRequest } from "fastify";
import { isJsonMediaType } from "../media-type.js";
import { CalError, unsupportedMediaType, type ValidationFailure } from "./errors.js";

/**
 * The named string fields of a JSON object body, each required and non-empty. Any other media
 * type is refused: a cross-site form can send those, and never `application/json`.
 */
export function readJsonStrings<K extends string>(request: FastifyRequest, names: readonly K[]): Record<K, string> {
  const hasBody = request.body !== undefined && request.body !== null;
  if (hasBody && !isJsonMediaType(request.headers["content-type"])) throw unsupportedMediaType();
  const body = request.body;
  const object = typeof body === "object" && body !== null && !Array.isArray(body) ? body : {};
  const values: Record<string, string> = {};
  const failures: ValidationFailure[] = [];
  for (const name of names) {
    const value: unknown = Object.hasOwn(object, name) ? (object as Record<string, unknown>)[name] : undefined;
    if (typeof value !== "string") {
      failures.push({ property: name, constraints: { isString: `${name} must be a string` } });
    } else if (value.length === 0) {
      failures.push({ property: name, constraints: { isNotEmpty: `${name} should not be empty` } });
    } else {
      values[name] = value;
    }
  }
  if (failures.length > 0) {
    const message = failures.flatMap((f) => Object.values(f.constraints)).join("; ");
    throw new CalError(400, message, failures);
  }
  return values as Record<K, string>;
}
