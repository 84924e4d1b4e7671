import type { onSendHookHandler } from "fastify";

/** RFC 6749 §5.1: token responses, and every other answer of the OAuth APIs, must not be cached. */
export const forbidCaching: onSendHookHandler = (_request, reply, payload, done) => {
  reply.header("cache-control", "no-store");
  reply.header("pragma", "no-cache");
  done(null, payload);
};
