import type { FastifyRequest } from "fastify";
import type { FormBody } from "../form-body.js";
import { CanvaError, invalidField, unsupportedMediaType } from "./errors.js";

/** Reads a form body's parameters the way Canva validates them: one value each, never blank. */
export class CanvaParams {
  constructor(private readonly form: FormBody) {}

  static of(request: FastifyRequest): CanvaParams {
    if (request.body === undefined || request.body === null) return new CanvaParams(new Map());
    if (!(request.body instanceof Map)) {
      throw unsupportedMediaType();
    }
    return new CanvaParams(request.body as FormBody);
  }

  /** The first value, unvalidated: for messages only. */
  peek(name: string): string | undefined {
    return this.form.get(name)?.[0] || undefined;
  }

  has(name: string): boolean {
    return this.form.has(name);
  }

  optional(name: string): string | undefined {
    const values = this.form.get(name);
    if (!values) return undefined;
    if (values.length > 1) throw invalidField(`${name} body param must have a single value`);
    const value = values[0] ?? "";
    if (value.trim() === "") throw invalidField(`${name} body param must not be blank or empty`);
    return value;
  }

  required(name: string): string {
    const value = this.optional(name);
    if (value === undefined) throw new CanvaError(400, "invalid_request", `${name} is required`);
    return value;
  }
}
