import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { errorAnswer, type FaceOf } from "./faces.js";

/**
 * Requests Node's parser refuses before any route sees them (oversized headers, malformed
 * request lines) still get an answer in the dialect of the path they asked for, when the
 * request line got that far.
 */
export const answerClientError =
  (faceOf: FaceOf) =>
  (error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const message =
      status === 431 ? "Request headers too large" : status === 408 ? "Request timed out" : "Malformed HTTP request";
    // The request line's method and path are enough to tell the face: a long path may not fit whole.
    const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.subarray(0, 2048).toString("latin1") : "";
    const path = /^[A-Z]+ (\/\S*)/.exec(raw)?.[1] ?? "";
    const { type, body } = errorAnswer(faceOf(path), status, message, path);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${type}\r\nX-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
