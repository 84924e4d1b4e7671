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
export const HTML_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

export function withHtmlHeaders(reply: FastifyReply, status: number): FastifyReply {
  return reply.status(status).headers(HTML_HEADERS);
}

export function sendHtml(reply: FastifyReply, status: number, body: string): FastifyReply {
  return withHtmlHeaders(reply, status).send(body);
}
