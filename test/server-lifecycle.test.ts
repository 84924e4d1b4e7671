import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { resolve } from "node:path";
import { test } from "node:test";
import { authorize, createClientWithCli, createUserWithCli, pkce } from "./support/browserless.js";
import { freePort, runCli, startServerProcess, tempDatabase } from "./support/server-process.js";

const ROOT = resolve(import.meta.dirname, "../..");

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return false;
}

test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), LOG_LEVEL: "info" });
  const body = "grant_type=refresh_token&refresh_token=unknown&client_id=OC-x&client_secret=cnvcax";
  const url = new URL(`${server.url}/rest/v1/oauth/token`);
  const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
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
        res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
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
  const answer = await answered;
  assert.equal(answer.status, 401, "the request that was in flight got its answer");
  assert.equal(
    answer.connection,
    "close",
    "its connection ends with it, so the server need not wait for it to idle out",
  );
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

test("the start that migrates the database says which migrations it applied; the next start says nothing of them", async () => {
  const database = tempDatabase();
  const migrationLines = (output: string) => output.split("\n").filter((line) => line.includes("schema up to date"));
  const first = await startServerProcess({ DATABASE_URL: database, LOG_LEVEL: "info" });
  await first.stop();
  const [line, ...more] = migrationLines(first.output());
  assert.equal(more.length, 0);
  const logged = JSON.parse(line ?? "{}") as { migrations?: string[] };
  assert.ok(logged.migrations?.includes("0001_initial"), line);
  const second = await startServerProcess({ DATABASE_URL: database, LOG_LEVEL: "info" });
  await second.stop();
  assert.deepEqual(migrationLines(second.output()), []);
});

test("SIGTERM to `npm start` reaches the server, which stops", async () => {
  const port = await freePort();
  const healthz = `http://127.0.0.1:${port}/healthz`;
  // --ignore-scripts skips the prestart build (the tests run on a built tree); the start script runs.
  const npm = spawn("npm", ["start", "--ignore-scripts", "--silent"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATABASE_URL: tempDatabase(), LOG_LEVEL: "warn" },
    stdio: "ignore",
    // Its own process group, so that whatever is left can be cleaned up; the signal under test
    // goes to npm alone, as a process manager's would.
    detached: true,
  });
  const group = npm.pid as number;
  try {
    assert.ok(await waitUntil(() => answers(healthz), 30_000), "npm start serves");
    npm.kill("SIGTERM");
    assert.ok(await waitUntil(async () => !(await answers(healthz)), 10_000), "the server stopped listening");
  } finally {
    try {
      process.kill(-group, "SIGKILL");
    } catch {
      // Everything has exited already.
    }
  }
});

/** A raw connection that collects what the server writes until it closes. */
async function rawConnection(url: string) {
  const { connect } = await import("node:net");
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise((resolveConnect) => socket.once("connect", resolveConnect));
  let received = "";
  socket.on("data", (chunk) => {
    received += chunk.toString();
  });
  socket.on("error", () => {});
  const closed = new Promise<string>((resolveClosed) => socket.once("close", () => resolveClosed(received)));
  return { socket, closed };
}

const TOKEN_HEAD = "POST /rest/v1/oauth/token HTTP/1.1\r\nHost: keyward\r\n";
const TOKEN_BODY = "grant_type=refresh_token&refresh_token=x&client_id=OC-x&client_secret=cnvcax";

test("a request whose headers end after SIGTERM is answered in its dialect's shape, then the server exits", {
  timeout: 30_000,
}, async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase() });
  const { socket, closed } = await rawConnection(server.url);
  socket.write(TOKEN_HEAD);
  await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  server.child.kill("SIGTERM");
  await new Promise((resolveWait) => setTimeout(resolveWait, 300));
  socket.write(
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${TOKEN_BODY.length}\r\n\r\n${TOKEN_BODY}`,
  );
  const answer = await closed;
  assert.match(answer, /^HTTP\/1\.1 401 /);
  assert.match(answer, /\r\nconnection: close\r\n/i);
  assert.match(answer, /\r\ncache-control: no-store\r\n/i);
  assert.match(answer, /"code":"invalid_client"/);
  assert.equal(await server.stop(), 0);
});

test("a body that stops arriving is answered 408 in its dialect's shape after KEYWARD_REQUEST_TIMEOUT", {
  timeout: 30_000,
}, async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), KEYWARD_REQUEST_TIMEOUT: "2" });
  try {
    const { socket, closed } = await rawConnection(server.url);
    socket.write(
      `${TOKEN_HEAD}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\ngrant_type`,
    );
    const answer = await closed;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /\r\ncache-control: no-store\r\n/i);
    assert.match(answer, /"code":"bad_request","message":"Request timed out"/);
    // Not only the shape a path without a known face gets: Cal.com's and a page's too.
    const cal = await rawConnection(server.url);
    cal.socket.write(
      "POST /v2/oauth/OC-x/exchange HTTP/1.1\r\nHost: keyward\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{",
    );
    const calAnswer = await cal.closed;
    assert.match(calAnswer, /^HTTP\/1\.1 408 /);
    const envelope = JSON.parse(calAnswer.slice(calAnswer.indexOf("\r\n\r\n") + 4));
    assert.equal(envelope.status, "error");
    assert.equal(envelope.path, "/v2/oauth/OC-x/exchange");
    assert.equal(envelope.error.message, "Request timed out");
    const page = await rawConnection(server.url);
    page.socket.write(
      "POST /login HTTP/1.1\r\nHost: keyward\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nemail=",
    );
    assert.match(await page.closed, /^HTTP\/1\.1 408 [\s\S]*\r\ncontent-type: text\/html/i);
  } finally {
    await server.stop();
  }
});

test("a request answered before its body arrived gets that one answer, not a 408 after it", {
  timeout: 30_000,
}, async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), KEYWARD_REQUEST_TIMEOUT: "2" });
  try {
    for (const head of [
      "GET /rest/v1/users/me HTTP/1.1\r\nHost: keyward\r\nContent-Length: 10\r\n\r\nab",
      "GET /login HTTP/1.1\r\nHost: keyward\r\nContent-Length: 10\r\n\r\nab",
    ]) {
      const { socket, closed } = await rawConnection(server.url);
      socket.write(head);
      const answer = await closed;
      assert.equal(answer.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, answer);
      assert.doesNotMatch(answer, /408/);
    }
    // Nor an answer to the malformed rest of a body that comes after the answer went out.
    const chunked = await rawConnection(server.url);
    chunked.socket.write("GET /healthz HTTP/1.1\r\nHost: keyward\r\nTransfer-Encoding: chunked\r\n\r\n");
    await new Promise<void>((resolveAnswered) => {
      chunked.socket.on("data", () => resolveAnswered());
    });
    chunked.socket.write("zz\r\n{}\r\n0\r\n\r\n");
    const answers = (await chunked.closed).match(/HTTP\/1\.1 \d{3}/g);
    assert.deepEqual(answers, ["HTTP/1.1 200"]);
    // A second request whose headers stop arriving on the same connection still gets its 408.
    const { socket, closed } = await rawConnection(server.url);
    socket.write("GET /healthz HTTP/1.1\r\nHost: keyward\r\n\r\nGET /healthz HTTP/1.1\r\nHost: k");
    assert.match(await closed, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 408 /);
  } finally {
    await server.stop();
  }
});

test("a client that stops sending does not hold a shutdown open past KEYWARD_REQUEST_TIMEOUT", {
  timeout: 30_000,
}, async () => {
  const server = await startServerProcess({ DATABASE_URL: tempDatabase(), KEYWARD_REQUEST_TIMEOUT: "2" });
  const { socket, closed } = await rawConnection(server.url);
  socket.write(`${TOKEN_HEAD}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\ngrant_type`);
  await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  const started = Date.now();
  server.child.kill("SIGTERM");
  await closed;
  assert.equal(await server.stop(), 0);
  assert.ok(Date.now() - started < 10_000, "the stalled request no longer holds the shutdown open");
  assert.match(server.output(), /requests still unfinished after KEYWARD_REQUEST_TIMEOUT/);
});

test("a client that half-closes its connection after a refresh still gets the new tokens", {
  timeout: 60_000,
}, async () => {
  const env = { DATABASE_URL: tempDatabase() };
  const redirectUri = "http://127.0.0.1:3001/cb";
  const client = createClientWithCli(env, { name: "Half", redirectUris: [redirectUri], scope: "profile:read" });
  const user = createUserWithCli(env, { email: "half@example.com", password: "half-close-password" });
  const server = await startServerProcess(env);
  try {
    const { verifier, challenge } = pkce();
    const query = new URLSearchParams({
      response_type: "code",
      client_id: client.clientId,
      redirect_uri: redirectUri,
      scope: "profile:read",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    const { redirect } = await authorize(`${server.url}/api/oauth/authorize?${query}`, user);
    const tokens = await fetch(`${server.url}/rest/v1/oauth/token`, {
      method: "POST",
      headers: { authorization: client.basic, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: redirect.searchParams.get("code") ?? "",
        code_verifier: verifier,
        redirect_uri: redirectUri,
      }),
    }).then((res) => res.json() as Promise<{ refresh_token: string }>);
    const body = `grant_type=refresh_token&refresh_token=${tokens.refresh_token}`;
    const { socket, closed } = await rawConnection(server.url);
    // The request and the end of what the client sends, together: the rotation's write and
    // signature take longer than the FIN takes to arrive.
    socket.end(
      `${TOKEN_HEAD}Authorization: ${client.basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const answer = await closed;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /"refresh_token":"/);
  } finally {
    await server.stop();
  }
});

test("a port already taken stops the server with a message naming the settings, and a non-zero exit", async () => {
  const { createServer } = await import("node:net");
  const holder = createServer();
  const port = await freePort();
  await new Promise<void>((listening) => holder.listen(port, "127.0.0.1", listening));
  try {
    const result = runCli(["start"], { DATABASE_URL: tempDatabase(), PORT: String(port) });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot listen on HOST=127\\.0\\.0\\.1 PORT=${port}: .*EADDRINUSE`));
    const admin = runCli(["start"], {
      DATABASE_URL: tempDatabase(),
      PORT: "0",
      KEYWARD_ADMIN_TOKEN: "a".repeat(32),
      KEYWARD_ADMIN_PORT: String(port),
    });
    assert.equal(admin.status, 1, admin.stderr);
    assert.match(
      admin.stderr,
      new RegExp(`cannot listen on KEYWARD_ADMIN_HOST=127\\.0\\.0\\.1 KEYWARD_ADMIN_PORT=${port}`),
    );
  } finally {
    holder.close();
  }
});

test("a host no listener can use is a setting keyward cannot use: exit 2, naming it", () => {
  for (const host of ["not..valid", "203.0.113.9"]) {
    const result = runCli(["start"], { DATABASE_URL: tempDatabase(), HOST: host, PORT: "0" });
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`^keyward: cannot listen on HOST=${host.replaceAll(".", "\\.")} PORT=0: `, "m"),
    );
  }
});
