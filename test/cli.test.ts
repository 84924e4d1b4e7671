import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { runCli, tempDatabase } from "./support/server-process.js";

let env: Record<string, string>;

before(() => {
  env = { DATABASE_URL: tempDatabase() };
});

function json(args: string[]) {
  const result = runCli([...args, "--json"], env);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe("keyward clients", () => {
  test("create prints the id and the secret once, as one JSON object", () => {
    const created = json([
      "clients",
      "create",
      "--name",
      "Acme",
      "--redirect-uri",
      "https://acme.example/cb",
      "--redirect-uri",
      "http://127.0.0.1:3001/cb",
      "--scope",
      "design:meta:read profile:read",
    ]);
    assert.match(created.client_id, /^OC-/);
    assert.match(created.client_secret, /^cnvca[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(created.redirect_uris, ["https://acme.example/cb", "http://127.0.0.1:3001/cb"]);

    const shown = json(["clients", "show", created.client_id]);
    assert.equal(shown.name, "Acme");
    assert.equal(shown.scope, "design:meta:read profile:read");
    assert.equal(shown.client_secret, undefined, "the secret is never shown again");

    const listed = json(["clients", "list"]);
    assert.ok(listed.some((c: { client_id: string }) => c.client_id === created.client_id));

    const rotated = json(["clients", "rotate-secret", created.client_id]);
    assert.notEqual(rotated.client_secret, created.client_secret);
    assert.match(rotated.client_secret, /^cnvca/);

    const deleted = runCli(["clients", "delete", created.client_id], env);
    assert.equal(deleted.status, 0, deleted.stderr);
    const gone = runCli(["clients", "show", created.client_id], env);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /no client with id/);
  });

  test("the secret file is created beside the database with mode 0600", () => {
    const file = join(dirname(env.DATABASE_URL ?? ""), "keyward.secret");
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, "utf8").trim().length >= 32);
  });

  test("plain output names the secret and warns it is shown once", () => {
    const result = runCli(
      ["clients", "create", "--name", "Plain", "--redirect-uri", "https://p.example/cb", "--scope", "profile:read"],
      env,
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /client_secret\s+cnvca/);
    assert.match(result.stdout, /shown only this once/);
  });

  const bad: [string, string[], RegExp][] = [
    ["no name", ["clients", "create", "--redirect-uri", "https://a.example/cb", "--scope", "profile:read"], /--name/],
    ["no redirect", ["clients", "create", "--name", "A", "--scope", "profile:read"], /--redirect-uri/],
    [
      "http redirect off localhost",
      ["clients", "create", "--name", "A", "--redirect-uri", "http://a.example/cb", "--scope", "profile:read"],
      /not allowed/,
    ],
    [
      "unknown scope",
      ["clients", "create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--scope", "root"],
      /unknown scope: root/,
    ],
    ["unknown option", ["clients", "create", "--frobnicate"], /frobnicate/],
    ["unknown command", ["frobnicate"], /unknown command/],
    ["unknown subcommand", ["clients", "explode"], /unknown clients command/],
    ["show without id", ["clients", "show"], /needs a client id/],
    ["short password", ["users", "create", "--email", "a@b.example", "--password", "short"], /at least 8/],
    ["bad email", ["users", "create", "--email", "nope", "--password", "long enough"], /not an email/],
  ];
  for (const [name, args, message] of bad) {
    test(`bad arguments exit 2 with one line: ${name}`, () => {
      const result = runCli(args, env);
      assert.equal(result.status, 2, result.stdout + result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1);
    });
  }

  test("more than ten redirect URIs are refused", () => {
    const uris = Array.from({ length: 11 }, (_, i) => ["--redirect-uri", `https://a.example/cb${i}`]).flat();
    const result = runCli(["clients", "create", "--name", "A", "--scope", "profile:read", ...uris], env);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /at most 10/);
  });
});

describe("keyward users", () => {
  test("create prints the user id; a second user with the same email is refused", () => {
    const created = json([
      "users",
      "create",
      "--email",
      "Ada@Example.com",
      "--password",
      "long enough",
      "--display-name",
      "Ada",
    ]);
    assert.equal(typeof created.user_id, "string");
    assert.equal(created.email, "ada@example.com");
    const again = runCli(["users", "create", "--email", "ada@example.com", "--password", "long enough"], env);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists/);
  });
});

describe("keyward keys", () => {
  test("rotate makes a new key current and reports how long old keys stay published", () => {
    const first = json(["keys", "rotate"]);
    const second = json(["keys", "rotate"]);
    assert.notEqual(first.kid, second.kid);
    assert.ok(Date.parse(second.previous_keys_published_until) > Date.now());
  });
});

describe("keyward help", () => {
  test("help lists the commands", () => {
    const result = runCli(["help"], env);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /clients create/);
  });

  test("PostgreSQL without KEYWARD_SECRET is a configuration error", () => {
    const result = runCli(["clients", "list"], { DATABASE_URL: "postgres://127.0.0.1:1/none", KEYWARD_SECRET: "" });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /KEYWARD_SECRET must be set/);
  });
});
