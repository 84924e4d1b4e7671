import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { errorAnswer, type FaceOf } from "./faces.js";

/** What Node keeps on a server socket: the response it is writing, and that response's request. */
type ServerSocket = Socket & { _httpMessage?: { headersSent?: boolean; req?: { url?: string } } };

/**
 * Requests Node's parser refuses before any route sees them (oversized headers, malformed
 * request lines), and requests whose body stops arriving (a timeout), still get an answer in the
 * dialect of the path they asked for, when the request line got that far.
 */
export const answerClientError =
  (faceOf: FaceOf) =>
  (error: Error & { code?: string; rawPacket?: unknown }, socket: ServerSocket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const message =
      status === 431 ? "Request headers too large" : status === 408 ? "Request timed out" : "Malformed HTTP request";
    // A request whose headers arrived has a response waiting on the socket; one that never got
    // that far has only the bytes the parser refused, whose request line is enough to tell the
    // face (a long path may not fit whole).
    const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.subarray(0, 2048).toString("latin1") : "";
    const path = socket._httpMessage?.req?.url ?? /^[A-Z]+ (\S+)/.exec(raw)?.[1] ?? "";
    const { type, body } = errorAnswer(faceOf(path), status, message, path);
    // Once an answer has begun, another written on the socket would corrupt it.
    if (socket.writable && !socket._httpMessage?.headersSent) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${type}\r\nCache-Control: no-store\r\nX-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
