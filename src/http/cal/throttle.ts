import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../deps.js";
import { addressWait, clientWait, type RateBucket, retryAfterSeconds } from "../rate-limits.js";
import { CalError } from "./errors.js";

function refuse(reply: FastifyReply, waitMs: number): never {
  reply.header("retry-after", retryAfterSeconds(waitMs));
  throw new CalError(429, "Too many requests. Please try again later.");
}

/** The per-address limit, checked before anything else is read. */
export async function throttleAddress(deps: AppDeps, request: FastifyRequest, reply: FastifyReply, bucket: RateBucket) {
  const wait = await addressWait(deps, bucket, request.ip);
  if (wait > 0) refuse(reply, wait);
}

/** The per-client limit, checked once the client (and, for authorize, the user) is known. */
export async function throttleClient(deps: AppDeps, reply: FastifyReply, bucket: RateBucket, subject: string) {
  const wait = await clientWait(deps, bucket, subject);
  if (wait > 0) refuse(reply, wait);
}
