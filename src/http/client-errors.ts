import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { CalError } from "./cal/errors.js";
import { faceOf } from "./faces.js";

/**
 * Requests Node's parser refuses before any route sees them (oversized headers, malformed
 * request lines) still get an answer in the dialect of the path they asked for, when the
 * request line got that far.
 */
export function answerClientError(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const message =
    status === 431 ? "Request headers too large" : status === 408 ? "Request timed out" : "Malformed HTTP request";
  const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.subarray(0, 2048).toString("latin1") : "";
  const path = /^[A-Z]+ (\/[^\s]*) HTTP\//.exec(raw)?.[1] ?? "";
  const body = JSON.stringify(
    faceOf(path) === "cal"
      ? new CalError(status, message).envelope(path)
      : { code: "bad_request", message, error: "invalid_request", error_description: message },
  );
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nX-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
