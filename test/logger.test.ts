import assert from "node:assert/strict";
import { test } from "node:test";
import { keywardLogger, loggedError } from "../src/logger.js";

const SECRET = "the-redis-password-0123456789";

function logged(error: unknown): string {
  const lines: string[] = [];
  keywardLogger("info", { write: (line: string) => lines.push(line) }).warn({ err: error }, "failed");
  return lines.join("");
}

test("a logged error keeps what failed and where, and none of what libraries hang on it", () => {
  // As ioredis reports a refused AUTH, and pg a connection that was lost.
  const refused = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
    command: { name: "hello", args: ["3", "AUTH", "kw", SECRET] },
  });
  const lost = Object.assign(new Error("terminating connection due to administrator command"), {
    code: "57P01",
    severity: "FATAL",
    detail: `Key (email)=(${SECRET}) already exists.`,
    client: { connectionParameters: { password: SECRET }, secretKey: 12345 },
  });
  for (const error of [refused, lost, new Error("outer", { cause: refused }), new AggregateError([lost], "all")]) {
    const line = logged(error);
    assert.doesNotMatch(line, new RegExp(SECRET), line);
    assert.doesNotMatch(line, /secretKey|connectionParameters|"args"/, line);
  }
  const kept = JSON.parse(logged(lost)).err;
  assert.equal(kept.message, "terminating connection due to administrator command");
  assert.equal(kept.code, "57P01");
  assert.equal(kept.severity, "FATAL");
  assert.match(kept.stack, /^Error: terminating connection/);
  assert.equal((loggedError(new Error("outer", { cause: lost })) as { cause: { code: string } }).cause.code, "57P01");
  assert.equal(loggedError("a string thrown"), "a string thrown");
  // An error that is its own cause, or among its own errors, is written once, not followed forever.
  const loop = new Error("loop");
  (loop as { cause?: unknown }).cause = loop;
  const aggregate = new AggregateError([], "all");
  aggregate.errors.push(aggregate);
  for (const error of [loop, aggregate]) assert.match(logged(error), /\[seen above\]/);
});
