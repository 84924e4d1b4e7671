import assert from "node:assert/strict";
import { once } from "node:events";
import { createRequire } from "node:module";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { drive, headOf, requestBytes } from "../bench/load.js";
import type { Workload } from "../bench/operations.js";
import type { Target } from "../bench/targets/target.js";

const require = createRequire(import.meta.url);
type BuildRequest = (request: { body: string }) => Buffer;
const requestBuilder = require("autocannon/lib/httpRequestBuilder") as (defaults: object) => BuildRequest;
const RequestIterator = require("autocannon/lib/requestIterator") as new (
  options: object,
) => {
  requestBuilder: unknown;
};

const HEADERS = { authorization: "Basic T0MtYWJjOmNudmNheHl6", "content-type": "application/x-www-form-urlencoded" };
const PATH = "/rest/v1/oauth/revoke";

test("a request laid out from its head is byte for byte what autocannon's own builder writes", () => {
  const build = requestBuilder({ hostname: "127.0.0.1", port: 4321, method: "POST", path: PATH, headers: HEADERS });
  for (const body of ["token=abc", "token=%C3%A9t%C3%A9&x=1", "grant_type=refresh_token&refresh_token=Zz-_09"]) {
    const head = headOf("http://127.0.0.1:4321", PATH, HEADERS);
    assert.equal(requestBytes(head, body).toString("latin1"), build({ body }).toString("latin1"));
  }
});

test("autocannon still builds each request through the field the load generator replaces", () => {
  const iterator = new RequestIterator({ requests: [{ method: "POST", path: "/", body: "" }] });
  assert.equal(typeof iterator.requestBuilder, "function");
});

test("drive sends each body the workload makes, once, and counts a wrong answer as invalid", async () => {
  const received: string[] = [];
  let answered = 0;
  const server = createServer((socket: Socket) => {
    let pending = "";
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end === -1) return;
        const length = Number(/Content-Length: (\d+)/.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        received.push(pending.slice(0, end + 4 + length));
        pending = pending.slice(end + 4 + length);
        const body = answered++ === 2 ? '{"active":false}' : '{"active":true}';
        socket.write(
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\n\r\n${body}`,
        );
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  try {
    let made = 0;
    const workload: Workload = {
      path: PATH,
      connection: () => ({
        body: () => `token=t${made++}`,
        response: (_status, body) => (body.includes('"active":true') ? undefined : "inactive"),
      }),
    };
    const target = { server: { url: `http://127.0.0.1:${port}` }, authorization: HEADERS.authorization } as Target;
    const figures = await drive(target, workload, 0, 1, 5);
    assert.equal(figures.requests, 5);
    assert.equal(figures.invalid, 1);
    const build = requestBuilder({ hostname: "127.0.0.1", port, method: "POST", path: PATH, headers: HEADERS });
    const sentBodies = received.map((request) => request.slice(request.indexOf("\r\n\r\n") + 4));
    assert.equal(new Set(sentBodies).size, sentBodies.length, "a body was sent twice");
    for (const request of received) {
      const body = request.slice(request.indexOf("\r\n\r\n") + 4);
      assert.match(body, /^token=t\d+$/);
      assert.equal(request, build({ body }).toString("latin1"));
    }
  } finally {
    server.close();
  }
});
