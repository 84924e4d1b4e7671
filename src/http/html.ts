import type { FastifyReply } from "fastify";

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/**
 * Headers for every HTML page: no framing (clickjacking), no referrer (codes and tokens in
 * URLs must not leak to other sites), no sniffing, nothing loaded but the page's own style.
 */
export function withHtmlHeaders(reply: FastifyReply, status: number): FastifyReply {
  return reply
    .status(status)
    .header("content-type", "text/html; charset=utf-8")
    .header("x-frame-options", "DENY")
    .header(
      "content-security-policy",
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    )
    .header("referrer-policy", "no-referrer")
    .header("x-content-type-options", "nosniff")
    .header("cache-control", "no-store");
}

export function sendHtml(reply: FastifyReply, status: number, body: string): FastifyReply {
  return withHtmlHeaders(reply, status).send(body);
}
