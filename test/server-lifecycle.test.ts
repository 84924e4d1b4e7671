import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";
import { startServerProcess, tempDatabase } from "./support/server-process.js";

test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), LOG_LEVEL: "info" });
  const body = "grant_type=refresh_token&refresh_token=unknown&client_id=OC-x&client_secret=cnvcax";
  const url = new URL(`${server.url}/rest/v1/oauth/token`);
  const answered = new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "content-length": body.length },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    // Half the body now, the rest after the server has been told to stop.
    req.write(body.slice(0, 20));
    setTimeout(() => {
      server.child.kill("SIGTERM");
      setTimeout(() => req.end(body.slice(20)), 300);
    }, 200);
  });
  assert.equal(await answered, 401, "the request that was in flight got its answer");
  assert.equal(await server.stop(), 0);
  assert.match(server.output(), /SIGTERM received/);
});

test("the first start logs one line with the URL", async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), LOG_LEVEL: "info" });
  try {
    const lines = server.output().trim().split("\n");
    const listening = lines.filter((line) => line.includes("keyward listening on"));
    assert.equal(listening.length, 1);
    assert.ok(listening[0]?.includes(server.url));
  } finally {
    await server.stop();
  }
});
