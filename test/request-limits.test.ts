import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { type ServerProcess, startServerProcess, tempDatabase } from "./support/server-process.js";

let server: ServerProcess;

before(async () => {
  server = await startServerProcess({ DATABASE_URL: tempDatabase(), LOG_LEVEL: "warn" });
});
after(() => server.stop());

/** Sends raw bytes and returns the status, head and body of the answer. */
function raw(request: string): Promise<{ status: number; head: string; body: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(request));
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8");
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const end = text.indexOf("\r\n\r\n");
      resolve({ status, head: text.slice(0, end + 2), body: text.slice(end + 4) });
    });
  });
}

const bigHeader = `X-Padding: ${"a".repeat(20_000)}\r\n`;

test("oversized headers on a Canva path: 431 in Canva's shape", async () => {
  const res = await raw(`POST /rest/v1/oauth/token HTTP/1.1\r\nHost: x\r\n${bigHeader}Content-Length: 0\r\n\r\n`);
  assert.equal(res.status, 431);
  const body = JSON.parse(res.body);
  assert.equal(body.code, "bad_request");
  assert.equal(body.error, "invalid_request");
  assert.equal(body.message, "Request headers too large");
});

test("oversized headers on a Cal.com path: 431 in Cal.com's envelope", async () => {
  const res = await raw(`POST /v2/oauth/OC-x/refresh HTTP/1.1\r\nHost: x\r\n${bigHeader}Content-Length: 0\r\n\r\n`);
  assert.equal(res.status, 431);
  const body = JSON.parse(res.body);
  assert.equal(body.status, "error");
  // NestJS has no exception class for 431: it is a plain HttpException.
  assert.equal(body.error.code, "HttpException");
  assert.equal(body.error.details.error, "Request Header Fields Too Large");
  assert.equal(body.path, "/v2/oauth/OC-x/refresh");
  assert.match(res.head, /\r\nx-request-id: [0-9a-f-]{36}\r\n/i);
});

test("oversized headers on a long Cal.com path or on a page: the face's own shape", async () => {
  const longCal = await raw(`POST /v2/oauth/${"x".repeat(2100)}/exchange HTTP/1.1\r\nHost: x\r\n${bigHeader}\r\n`);
  assert.equal(longCal.status, 431);
  assert.equal(JSON.parse(longCal.body).error.code, "HttpException");
  const page = await raw(`GET /login?return_to=/a HTTP/1.1\r\nHost: x\r\n${bigHeader}\r\n`);
  assert.equal(page.status, 431);
  assert.match(page.head, /\r\ncontent-type: text\/html/i);
  assert.match(page.body, /Request headers too large/);
  // The security headers of every other page.
  assert.match(page.head, /\r\nx-frame-options: DENY\r\n/i);
  assert.match(page.head, /\r\ncontent-security-policy: default-src 'none';/i);
  assert.match(page.head, /\r\nx-content-type-options: nosniff\r\n/i);
  assert.match(page.head, /\r\nreferrer-policy: no-referrer\r\n/i);
});

test("a malformed request line: 400, and the server keeps serving", async () => {
  const res = await raw("GARBAGE\r\n\r\n");
  assert.equal(res.status, 400);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test("a request line the parser refuses still names the face: a lowercase method on a Cal.com path", async () => {
  const res = await raw("get /v2/oauth/OC-x/refresh HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body).error.code, "BadRequestException");
});

test("a malformed request pipelined behind a good one: the good one is answered, then the connection closes", async () => {
  const res = await raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nget / HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal(res.status, 200);
  assert.match(res.head, /\r\nconnection: close\r\n/i);
  // Nothing after the good answer: the refused request gets its own answer when sent again.
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(res.head)?.[1]);
  assert.equal(Buffer.byteLength(res.body), length);
  assert.equal((await raw("get / HTTP/1.1\r\nHost: x\r\n\r\n")).status, 400);
});

test("an absolute-form request target is answered in the face of its path", async () => {
  const cal = await raw(`POST http://elsewhere.example/v2/oauth/%E0%A4%A/refresh HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(cal.status, 400);
  assert.equal(JSON.parse(cal.body).error.message, "The URL is not validly encoded");
  assert.match(cal.head, /\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
  const canva = await raw(`POST http://elsewhere.example/rest/v1/users/%zz HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(canva.status, 400);
  assert.deepEqual(JSON.parse(canva.body), {
    code: "bad_request",
    message: "The URL is not validly encoded",
    error: "invalid_request",
    error_description: "The URL is not validly encoded",
  });
});

test("an HTTP/1.1 request without a Host header: 400 in its face's shape; HTTP/1.0 needs none", async () => {
  const cal = await raw("POST /v2/oauth/OC-x/refresh HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  assert.equal(cal.status, 400);
  assert.equal(JSON.parse(cal.body).error.message, "A Host header is required");
  assert.match(cal.head, /\r\nx-request-id: [0-9a-f-]{36}\r\n/i);
  const canva = await raw("POST /rest/v1/oauth/token HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  assert.equal(canva.status, 400);
  assert.equal(JSON.parse(canva.body).code, "bad_request");
  const page = await raw("GET /login HTTP/1.1\r\n\r\n");
  assert.equal(page.status, 400);
  assert.match(page.body, /A Host header is required/);
  const old = await raw("GET /healthz HTTP/1.0\r\n\r\n");
  assert.match(old.head, /^HTTP\/1\.1 200 /);
});

test("an expectation other than 100-continue: 417 in its face's shape", async () => {
  const res = await raw(
    "POST /rest/v1/oauth/token HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n",
  );
  assert.equal(res.status, 417);
  assert.deepEqual(JSON.parse(res.body), {
    code: "bad_request",
    message: "Only the 100-continue expectation is supported",
    error: "invalid_request",
    error_description: "Only the 100-continue expectation is supported",
  });
  const cal = await raw(
    "POST /v2/oauth/OC-x/exchange HTTP/1.1\r\nHost: x\r\nExpect: nothing\r\nContent-Length: 0\r\n\r\n",
  );
  assert.equal(cal.status, 417);
  assert.equal(JSON.parse(cal.body).path, "/v2/oauth/OC-x/exchange");
});

test("CONNECT: 501, and the server keeps serving", async () => {
  const res = await raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  assert.equal(res.status, 501);
  assert.match(res.head, /\r\ncontent-type: text\/html/i);
  assert.match(res.body, /CONNECT is not supported/);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test("a client that resets its connection once its request is sent causes no error", async () => {
  const url = new URL(server.url);
  const requests = [
    "POST /rest/v1/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n\r\ngrant_type=nothing&a=",
    'POST /v2/oauth/OC-x/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{"refreshToken":1}',
    "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nemail=a",
  ];
  for (const request of requests) {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(request);
          socket.resetAndDestroy();
          resolve();
        });
        socket.on("error", () => resolve());
      });
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.doesNotMatch(server.output(), /"level":50/);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});
