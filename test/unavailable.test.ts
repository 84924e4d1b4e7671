import assert from "node:assert/strict";
import { test } from "node:test";
import Fastify from "fastify";
import { type Face, storageFailureAnswer } from "../src/http/faces.js";
import { classifyFailure } from "../src/http/request-failure.js";
import { isTransientConflict, isUnavailable } from "../src/store/errors.js";

const coded = (code: string) => Object.assign(new Error(code), { code });

test("database conditions a client should retry are unavailable (503), not server errors", () => {
  for (const code of [
    "SQLITE_BUSY",
    "SQLITE_BUSY_SNAPSHOT",
    "SQLITE_LOCKED",
    "40001",
    "40P01",
    "57014",
    "57P01",
    "3D000",
    "28P01",
    "SQLITE_READONLY",
    "SQLITE_READONLY_DBMOVED",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
    "ECONNREFUSED",
  ]) {
    assert.equal(isUnavailable(coded(code)), true, code);
  }
  const refused = new AggregateError([coded("ECONNREFUSED"), coded("ECONNREFUSED")], "connect failed");
  assert.equal(isUnavailable(refused), true);
  assert.equal(isUnavailable(new Error("timeout exceeded when trying to connect")), true);
  assert.equal(isUnavailable(new Error("Connection terminated unexpectedly")), true);
  const refusing = Object.assign(new Error('database "keyward" is not currently accepting connections'), {
    code: "55000",
  });
  assert.equal(isUnavailable(refusing), true, "a database made to refuse connections");
});

test("other errors are not mistaken for an outage", () => {
  assert.equal(isUnavailable(coded("23505")), false);
  const misuse = Object.assign(new Error("lastval is not yet defined in this session"), { code: "55000" });
  assert.equal(isUnavailable(misuse), false, "the same code for a mistake in a query");
  assert.equal(isUnavailable(coded("SQLITE_CONSTRAINT_UNIQUE")), false);
  assert.equal(isUnavailable(new Error("boom")), false);
  assert.equal(isUnavailable(undefined), false);
});

test("only conflicts a fresh attempt can resolve are retried", () => {
  assert.equal(isTransientConflict(coded("40P01")), true);
  assert.equal(isTransientConflict(coded("SQLITE_BUSY_SNAPSHOT")), true);
  assert.equal(isTransientConflict(coded("ECONNREFUSED")), false);
  assert.equal(isTransientConflict(coded("23505")), false);
});

test("text PostgreSQL cannot store is the request's fault (400), not a server error", () => {
  for (const code of ["22021", "22P05"]) {
    assert.deepEqual(classifyFailure(coded(code)), {
      kind: "client-error",
      status: 400,
      message: "The request holds a character that cannot be stored",
    });
  }
  assert.equal(classifyFailure(coded("22001")).kind, "internal");
});

test("a body whose connection reset mid-way is the client's failure, though it fails with ECONNRESET", () => {
  // As Fastify hands on the request stream's error: marked 400.
  const aborted = Object.assign(new Error("aborted"), { code: "ECONNRESET", statusCode: 400 });
  assert.deepEqual(classifyFailure(aborted), { kind: "client-error", status: 400, message: "aborted" });
  assert.equal(classifyFailure(coded("ECONNRESET")).kind, "unavailable");
});

test("a write the database could not take is answered in each face's shape: 503 when it will take it again, else 500", async () => {
  const app = Fastify();
  app.get<{ Querystring: { face: Face; unavailable: string } }>("/answer", (request, reply) => {
    reply.header("location", "https://client.example/cb?code=x").header("set-cookie", "session=x");
    const error = coded(request.query.unavailable === "yes" ? "SQLITE_FULL" : "SQLITE_IOERR");
    return reply.send(storageFailureAnswer(request.query.face, request, reply, error));
  });
  const answer = (face: Face, unavailable: boolean) =>
    app.inject({ url: `/answer?face=${face}&unavailable=${unavailable ? "yes" : "no"}` });
  const expected: Record<Face, [number, string, string]> = {
    canva: [503, '"code":"service_unavailable"', '"code":"internal_error"'],
    cal: [503, '"code":"ServiceUnavailableException"', '"code":"InternalServerErrorException"'],
    admin: [503, '"error":"temporarily_unavailable"', '"error":"server_error"'],
    pages: [503, "Temporarily unavailable", "Something went wrong"],
  };
  for (const [face, [status, unavailableText, internalText]] of Object.entries(expected) as [
    Face,
    [number, string, string],
  ][]) {
    const refused = await answer(face, true);
    assert.equal(refused.statusCode, status, face);
    assert.equal(refused.headers["retry-after"], "5", face);
    assert.ok(refused.body.includes(unavailableText), `${face}: ${refused.body}`);
    assert.equal(refused.headers.location, undefined, face);
    assert.equal(refused.headers["set-cookie"], undefined, face);
    const failed = await answer(face, false);
    assert.equal(failed.statusCode, 500, face);
    assert.equal(failed.headers["retry-after"], undefined, face);
    assert.ok(failed.body.includes(internalText), `${face}: ${failed.body}`);
  }
  await app.close();
});
