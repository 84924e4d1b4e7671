import { randomUUID } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { errorAnswer, type FaceOf } from "./faces.js";

/**
 * What Node keeps on a server socket: the response it is writing, that response's request, and
 * the request its parser last read (which stays there once its response has gone out).
 */
type ServerSocket = Socket & {
  _httpMessage?: {
    headersSent?: boolean;
    shouldKeepAlive?: boolean;
    req?: { url?: string; complete?: boolean };
  } | null;
  parser?: { incoming?: IncomingMessage | null } | null;
};

/**
 * Requests Node's parser refuses before any route sees them (oversized headers, malformed
 * request lines), and requests whose body stops arriving (a timeout), still get an answer in the
 * dialect of the path they asked for, when the request line got that far.
 */
export const answerClientError =
  (faceOf: FaceOf) =>
  (error: Error & { code?: string; rawPacket?: unknown }, socket: ServerSocket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    // A route may answer before reading a body that then never comes whole (a GET sent with one,
    // say): the request times out, or its body turns out malformed, after its answer went out.
    // The client has its answer; another would arrive unasked for, as the answer to its next request.
    const answered = !socket._httpMessage && socket.parser?.incoming?.complete === false;
    if (answered) {
      socket.destroy();
      return;
    }
    const pending = socket._httpMessage;
    // A request pipelined behind one whose answer is still being made: that answer goes out,
    // then the connection closes, and the client sends the refused request again on a new one,
    // where it is refused in its own right. Answering in the pending answer's place would lose
    // an answer whose effect (a rotated refresh token, say) has committed.
    if (pending && !pending.headersSent && pending.req?.complete) {
      pending.shouldKeepAlive = false;
      return;
    }
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const message =
      status === 431 ? "Request headers too large" : status === 408 ? "Request timed out" : "Malformed HTTP request";
    // A request whose headers arrived has a response waiting on the socket; one that never got
    // that far has only the bytes the parser refused, whose request line is enough to tell the
    // face (a long path may not fit whole).
    const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.subarray(0, 2048).toString("latin1") : "";
    const path = pending?.req?.url ?? /^\S+ +(\S+)/.exec(raw)?.[1] ?? "";
    // Once an answer has begun, another written on the socket would corrupt it.
    if (pending?.headersSent) socket.destroy();
    else answerOnSocket(socket, faceOf, status, message, path);
  };

/** Writes a whole answer, in the face of `path`, straight on a socket no route will answer, and closes it. */
function answerOnSocket(socket: Duplex, faceOf: FaceOf, status: number, message: string, path: string): void {
  const { headers, body } = errorAnswer(faceOf(path), status, message, path);
  if (socket.writable) {
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${lines.join("")}X-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Answers a request no route will see through its response, in the face of its path, and closes the connection. */
function answerOnResponse(response: ServerResponse, faceOf: FaceOf, status: number, message: string): void {
  const path = response.req.url ?? "";
  const { headers, body } = errorAnswer(faceOf(path), status, message, path);
  response.shouldKeepAlive = false;
  response.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body), "x-request-id": randomUUID() });
  response.end(body);
}

/**
 * What Node would otherwise answer itself, bare, outside every route: an HTTP/1.1 request without
 * a Host header (RFC 9112 asks for a 400), an `Expect` other than 100-continue (417), and CONNECT,
 * which nothing here tunnels (501). Each gets its face's shape, as a parser error does.
 */
export function answerBareRefusals(server: Server, faceOf: FaceOf): void {
  const handlers = server.listeners("request") as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners("request");
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.host === undefined && request.httpVersionMinor >= 1) {
      answerOnResponse(response, faceOf, 400, "A Host header is required");
      return;
    }
    for (const handler of handlers) handler(request, response);
  });
  server.on("checkExpectation", (_request: IncomingMessage, response: ServerResponse) =>
    answerOnResponse(response, faceOf, 417, "Only the 100-continue expectation is supported"),
  );
  server.on("connect", (request: IncomingMessage, socket: Duplex) =>
    answerOnSocket(socket, faceOf, 501, `${request.method} is not supported`, request.url ?? ""),
  );
}
