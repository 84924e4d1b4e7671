import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import SQLite from "better-sqlite3";
import { loadConfig } from "../src/config.js";
import { adminQuery, createTestSchema, PG_SKIP, PG_URL } from "./support/postgres.js";
import { runCli, tempDatabase } from "./support/server-process.js";

let env: Record<string, string>;

before(() => {
  env = { DATABASE_URL: tempDatabase() };
});

function json2(environment: Record<string, string>, args: string[]) {
  const result = runCli([...args, "--json"], environment);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const json = (args: string[]) => json2(env, args);

function secretHashOf(clientId: string): string {
  const db = new SQLite(env.DATABASE_URL ?? "", { readonly: true });
  try {
    return (db.prepare("select secret_hash from clients where id = ?").get(clientId) as { secret_hash: string })
      .secret_hash;
  } finally {
    db.close();
  }
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
    // Created until their ids are out of creation order, so that the listing's order tells the two apart.
    const createdInOrder = [created.client_id];
    const inIdOrder = () => createdInOrder.every((id, i) => i === 0 || (createdInOrder[i - 1] as string) < id);
    while (inIdOrder() && createdInOrder.length < 8) {
      const args = ["--redirect-uri", "https://later.example/cb", "--scope", "profile:read"];
      createdInOrder.push(json(["clients", "create", "--name", `Later ${createdInOrder.length}`, ...args]).client_id);
    }
    const order = json(["clients", "list"]).map((c: { client_id: string }) => c.client_id);
    assert.deepEqual(order.slice(-createdInOrder.length), createdInOrder, "oldest first, whatever their ids");

    const rotated = json(["clients", "rotate-secret", created.client_id]);
    assert.notEqual(rotated.client_secret, created.client_secret);
    assert.match(rotated.client_secret, /^cnvca/);
    assert.equal(rotated.previous_secret_expires_at, undefined);

    const started = Date.now();
    const overlapping = json(["clients", "rotate-secret", created.client_id, "--previous-valid-for", "3600"]);
    const until = Date.parse(overlapping.previous_secret_expires_at);
    assert.ok(until >= started + 3_600_000 && until <= Date.now() + 3_600_000, overlapping.previous_secret_expires_at);
    assert.equal(
      json(["clients", "show", created.client_id]).previous_secret_expires_at,
      overlapping.previous_secret_expires_at,
    );
    for (const wrong of ["0", "2592001", "1.5", "soon", "-5"]) {
      const refused = runCli(["clients", "rotate-secret", created.client_id, `--previous-valid-for=${wrong}`], env);
      assert.equal(refused.status, 2, wrong);
      assert.match(refused.stderr, /--previous-valid-for must be a whole number of seconds from 1 to 2592000/);
    }

    const deleted = runCli(["clients", "delete", created.client_id], env);
    assert.equal(deleted.status, 0, deleted.stderr);
    const gone = runCli(["clients", "show", created.client_id], env);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /no client with id/);
  });

  test("update replaces what it names and keeps the rest, the secret included", () => {
    const created = json([
      "clients",
      "create",
      "--name",
      "Before",
      "--redirect-uri",
      "https://before.example/cb",
      "--scope",
      "profile:read",
    ]);
    const secretBefore = secretHashOf(created.client_id);
    const renamed = json(["clients", "update", created.client_id, "--name", "After"]);
    assert.equal(renamed.name, "After");
    assert.deepEqual(renamed.redirect_uris, ["https://before.example/cb"]);
    assert.equal(renamed.client_secret, undefined);

    const moved = json([
      "clients",
      "update",
      created.client_id,
      "--redirect-uri",
      "https://after.example/cb",
      "--redirect-uri",
      "https://after.example/cb2",
      "--scope",
      "profile:read design:meta:read",
    ]);
    assert.deepEqual(moved.redirect_uris, ["https://after.example/cb", "https://after.example/cb2"]);
    assert.equal(moved.scope, "profile:read design:meta:read");
    assert.equal(moved.name, "After");
    assert.deepEqual(json(["clients", "show", created.client_id]), moved);

    assert.equal(secretHashOf(created.client_id), secretBefore, "the secret stays");

    const missing = runCli(["clients", "update", "OC-missing", "--name", "X"], env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no client with id OC-missing/);
  });

  test("the secret file is created beside the database with mode 0600", () => {
    const file = join(dirname(env.DATABASE_URL ?? ""), "keyward.secret");
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, "utf8").trim().length >= 32);
  });

  test("the secret file is the only file left beside the database: nothing partial", () => {
    const dir = dirname(env.DATABASE_URL ?? "");
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith("keyward.secret")),
      ["keyward.secret"],
    );
  });

  test("a secret file with no usable secret in it is refused by its path, and nothing is made", () => {
    const database = tempDatabase();
    const file = join(dirname(database), "keyward.secret");
    writeFileSync(file, "\n");
    const result = runCli(["migrate"], { DATABASE_URL: database });
    assert.equal(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file} holds no usable secret`), result.stderr);
    assert.equal(existsSync(database), false);
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
    ["update without id", ["clients", "update"], /needs a client id/],
    ["update without changes", ["clients", "update", "OC-x"], /needs --name, --redirect-uri or --scope/],
    ["update to an unknown scope", ["clients", "update", "OC-x", "--scope", "root"], /unknown scope: root/],
    [
      "update to an http redirect off localhost",
      ["clients", "update", "OC-x", "--redirect-uri", "http://a.example/cb"],
      /not allowed/,
    ],
    ["update to an empty name", ["clients", "update", "OC-x", "--name", " "], /--name/],
    ["short password", ["users", "create", "--email", "a@b.example", "--password", "short"], /at least 8/],
    ["bad email", ["users", "create", "--email", "nope", "--password", "long enough"], /not an email/],
    [
      "set-password too short",
      ["users", "set-password", "--email", "a@b.example", "--password", "short"],
      /at least 8/,
    ],
    ["delete without email", ["users", "delete"], /--email is required/],
    ["disconnect without client", ["users", "disconnect", "--email", "a@b.example"], /--client is required/],
    [
      "unknown users command",
      ["users", "explode"],
      /expected create, list, show, sign-out, disconnect, set-password or delete/,
    ],
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
    const blank = json([
      "users",
      "create",
      "--email",
      "blank@example.com",
      "--password",
      "long enough",
      "--display-name",
      "  ",
    ]);
    assert.equal(blank.display_name, "blank", "a blank name is no name");
  });

  test("list prints every user, as lines or as one JSON array", () => {
    const created = json(["users", "create", "--email", "listed@example.com", "--password", "long enough"]);
    const listed = json(["users", "list"]) as { user_id: string; email: string; password_hash?: string }[];
    const entry = listed.find((u) => u.user_id === created.user_id);
    assert.equal(entry?.email, "listed@example.com");
    assert.equal(entry?.password_hash, undefined);
    const lines = runCli(["users", "list"], env);
    assert.equal(lines.status, 0, lines.stderr);
    assert.match(lines.stdout, new RegExp(`^${created.user_id}  listed@example.com  listed$`, "m"));
    assert.equal(lines.stdout.trim().split("\n").length, listed.length);
  });

  test("sign-out ends the user's sessions, and says so when there is no such user", () => {
    json(["users", "create", "--email", "leaving@example.com", "--password", "long enough"]);
    const signedOut = json(["users", "sign-out", "--email", "Leaving@Example.com"]);
    assert.equal(signedOut.email, "leaving@example.com");
    assert.equal(signedOut.sessions_ended, 0);
    const nobody = runCli(["users", "sign-out", "--email", "nobody@example.com"], env);
    assert.equal(nobody.status, 1);
    assert.match(nobody.stderr, /no user with email nobody@example.com/);
  });

  test("set-password and delete find the user by email, and say so when there is none", () => {
    json(["users", "create", "--email", "grace@example.com", "--password", "long enough"]);
    const changed = runCli(
      ["users", "set-password", "--email", "Grace@Example.com", "--password", "longer still"],
      env,
    );
    assert.equal(changed.status, 0, changed.stderr);
    assert.match(changed.stdout, /changed the password of grace@example.com and ended their sign-in sessions/);
    const deleted = runCli(["users", "delete", "--email", "grace@example.com"], env);
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.match(deleted.stdout, /deleted grace@example.com/);
    for (const args of [
      ["users", "delete", "--email", "grace@example.com"],
      ["users", "set-password", "--email", "grace@example.com", "--password", "long enough"],
    ]) {
      const missing = runCli(args, env);
      assert.equal(missing.status, 1, args.join(" "));
      assert.match(missing.stderr, /no user with email grace@example.com/);
    }
  });
});

describe("keyward keys", () => {
  test("rotate makes a new key current and reports how long old keys stay published", () => {
    const first = json(["keys", "rotate"]);
    const second = json(["keys", "rotate"]);
    assert.notEqual(first.kid, second.kid);
    assert.equal(second.purpose, "tokens");
    // The longest access token's lifetime (Canva's 4 hours) from when the new key starts signing; refresh
    // tokens need no published key, so a compromised key's rotation is not held up by Cal.com's year.
    const published = Date.parse(second.previous_keys_published_until) - Date.parse(second.signs_from);
    assert.equal(published, 4 * 3_600_000);
  });

  test("rotate --webhooks makes a new webhook key current, for a week's overlap, and leaves the token key", () => {
    const tokenKey = json(["keys", "rotate"]);
    const webhookKey = json(["keys", "rotate", "--webhooks"]);
    assert.equal(webhookKey.purpose, "webhooks");
    // A week from when the new key starts signing, once every instance publishes it.
    const week = Date.parse(webhookKey.previous_keys_published_until) - Date.parse(webhookKey.signs_from);
    assert.equal(week, 7 * 86_400_000);
    const signsIn = Date.parse(webhookKey.signs_from) - Date.now();
    assert.ok(signsIn > 0 && signsIn <= 32_000, `signs in ${signsIn} ms: a key reload (30 s) and a margin`);
    const db = new SQLite(env.DATABASE_URL ?? "", { readonly: true });
    try {
      const current = (table: string) => db.prepare(`select kid, alg from ${table} where retired_at is null`).all();
      assert.deepEqual(current("signing_keys"), [{ kid: tokenKey.kid, alg: "ES256" }]);
      assert.deepEqual(current("webhook_keys"), [{ kid: webhookKey.kid, alg: "EdDSA" }]);
    } finally {
      db.close();
    }
  });
});

describe("the database's secret", () => {
  const otherSecret = "another-secret-another-secret-another-secret";

  test("a command run with another secret is refused before it writes", () => {
    const own = { DATABASE_URL: tempDatabase() };
    const create = (name: string) => [
      "clients",
      "create",
      "--name",
      name,
      "--redirect-uri",
      "https://a.example/cb",
      "--scope",
      "profile:read",
    ];
    json2(own, create("First"));
    const wrong = { ...own, KEYWARD_SECRET: otherSecret };
    for (const args of [create("Second"), ["keys", "rotate"]]) {
      const refused = runCli(args, wrong);
      assert.equal(refused.status, 2, refused.stderr);
      assert.match(
        refused.stderr,
        /KEYWARD_SECRET is not the secret this database was set up with \(with no KEYWARD_SECRET, that is the one in keyward\.secret beside the database\); nothing was changed/,
      );
    }
    assert.equal(json2(own, ["clients", "list"]).length, 1);
    // A migration still to run needs no secret and runs: the refusal says so rather than claim nothing changed.
    const database = new SQLite(own.DATABASE_URL);
    database.prepare("delete from kysely_migration where name = ?").run("0011_webhook_keys");
    database.prepare("drop table webhook_keys").run();
    database.close();
    const migrated = runCli(["clients", "list"], wrong);
    assert.equal(migrated.status, 2, migrated.stderr);
    assert.match(migrated.stderr, /only the schema was brought up to date \(0011_webhook_keys\)/);
  });

  test("a database from before the check takes only a secret that opens its signing keys", () => {
    const own = { DATABASE_URL: tempDatabase() };
    json2(own, ["keys", "rotate"]);
    const forget = () => {
      const database = new SQLite(own.DATABASE_URL);
      database.prepare("delete from secret_check").run();
      database.close();
    };
    forget();
    const refused = runCli(["clients", "list"], { ...own, KEYWARD_SECRET: otherSecret });
    assert.equal(refused.status, 2, refused.stderr);
    forget();
    assert.deepEqual(json2(own, ["clients", "list"]), []);
    assert.equal(runCli(["clients", "list"], { ...own, KEYWARD_SECRET: otherSecret }).status, 2);
  });
});

describe("a database that is not there", () => {
  test("a command makes it and says where, with the secret it generated; once", () => {
    const path = join(dirname(tempDatabase()), "mistyped", "keyward.db");
    const first = runCli(["clients", "list"], { DATABASE_URL: path });
    assert.equal(first.status, 0, first.stderr);
    assert.equal(
      first.stderr,
      `keyward: no database was at ${path}: made a new, empty one, with a new server secret in ${join(dirname(path), "keyward.secret")} (DATABASE_URL says where)\n`,
    );
    assert.ok(existsSync(path));
    const again = runCli(["clients", "list"], { DATABASE_URL: path });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stderr, "");
  });

  test("with the secret given, the notice names the database alone", () => {
    const path = tempDatabase();
    const made = runCli(["users", "list"], { DATABASE_URL: path, KEYWARD_SECRET: "s".repeat(40) });
    assert.equal(made.status, 0, made.stderr);
    assert.equal(made.stderr, `keyward: no database was at ${path}: made a new, empty one (DATABASE_URL says where)\n`);
  });
});

test("a PostgreSQL with no connection to spare: the failure names the setting that sizes the pool", {
  skip: PG_SKIP,
}, async () => {
  // A role allowed no connection is refused as a full server is (too_many_connections, 53300).
  const role = `keyward_test_full_${process.pid}`;
  await adminQuery(`create role ${role} login connection limit 0`);
  try {
    const url = new URL(PG_URL ?? "");
    url.username = role;
    const result = runCli(["clients", "list"], { DATABASE_URL: url.href, KEYWARD_SECRET: "s".repeat(40) });
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /^keyward: too many connections for role "keyward_test_full_\d+": PostgreSQL refuses more connections \(max_connections, or a limit on the role or database\); each keyward process holds up to KEYWARD_PG_POOL_SIZE, plus one that listens\n$/,
    );
  } finally {
    await adminQuery(`drop role ${role}`);
  }
});

test("on PostgreSQL, another secret is refused without a word of SQLite's secret file", { skip: PG_SKIP }, async () => {
  const schema = await createTestSchema();
  try {
    const own = { DATABASE_URL: schema.url, KEYWARD_SECRET: "s".repeat(40) };
    assert.equal(runCli(["clients", "list"], own).status, 0);
    const refused = runCli(["clients", "list"], { ...own, KEYWARD_SECRET: "t".repeat(40) });
    assert.equal(refused.status, 2);
    assert.equal(
      refused.stderr,
      "keyward: KEYWARD_SECRET is not the secret this database was set up with; nothing was changed\n",
    );
  } finally {
    await schema.drop();
  }
});

describe("commands refused before they touch anything", () => {
  test("arguments refused on their own, or a backup of a missing file, make no directory, database or secret", () => {
    const dir = join(dirname(tempDatabase()), "never-made");
    const path = join(dir, "keyward.db");
    for (const [args, status, message] of [
      [["frobnicate"], 2, /^keyward: unknown command: frobnicate\n$/],
      [["prune", "--bogus"], 2, /^keyward: unknown option --bogus \(npx keyward --help lists them\)\n$/],
      [
        ["clients", "explode"],
        2,
        /unknown clients command: explode; expected create, list, show, update, delete or rotate-secret\n$/,
      ],
      [
        ["users"],
        2,
        /unknown users command: \(none\); expected create, list, show, sign-out, disconnect, set-password or delete\n$/,
      ],
      [["keys", "spin"], 2, /unknown keys command: spin; expected rotate\n$/],
      [
        ["backup", join(dirname(dir), "copy.db")],
        1,
        /^keyward: cannot open the database .*never-made.keyward\.db: there is no such file\n$/,
      ],
      [["backup"], 2, /backup needs the file to write/],
      [["start", "--workers", "0"], 2, /--workers must be a whole number from 1 to 256/],
      [
        ["clients", "create", "--redirect-uri", "https://a.example/cb", "--scope", "profile:read"],
        2,
        /--name is required/,
      ],
      [
        ["clients", "create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--scope", "root"],
        2,
        /unknown scope: root/,
      ],
      [["clients", "show"], 2, /clients show needs a client id/],
      [["clients", "update", "OC-x"], 2, /needs --name, --redirect-uri or --scope/],
      [["clients", "rotate-secret", "OC-x", "--previous-valid-for", "0"], 2, /--previous-valid-for must be/],
      [["users", "create", "--email", "a@b.example"], 2, /--password is required/],
      [["users", "show"], 2, /--email is required/],
      [["users", "set-password", "--email", "nope", "--password", "long enough"], 2, /not an email/],
      [["users", "disconnect", "--email", "a@b.example"], 2, /--client is required/],
    ] as const) {
      const result = runCli([...args], { DATABASE_URL: path });
      assert.equal(result.status, status, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.equal(existsSync(dir), false, `${args.join(" ")} made ${dir}`);
    }
  });
});

describe("keyward help", () => {
  test("help lists the commands", () => {
    const result = runCli(["help"], env);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /clients create/);
  });

  test("settings the server could not use are configuration errors that name the variable", () => {
    for (const [name, value, message] of [
      ["LOG_LEVEL", "loud", /LOG_LEVEL must be one of/],
      ["KEYWARD_TRUST_PROXY", "10.0.0.1,garbage", /KEYWARD_TRUST_PROXY .*not garbage/],
      ["KEYWARD_TRUST_PROXY", "10.0.0.0/33", /KEYWARD_TRUST_PROXY/],
      ["KEYWARD_ISSUER", "ftp://auth.example", /KEYWARD_ISSUER must be an http or https URL/],
      ["KEYWARD_ISSUER", "https://auth.example/?tenant=1", /KEYWARD_ISSUER/],
      ["KEYWARD_REFRESH_TOKEN_TTL", "10000000000000000", /KEYWARD_REFRESH_TOKEN_TTL must be a whole number of seconds/],
      ["KEYWARD_KEY_RELOAD", "3000000", /KEYWARD_KEY_RELOAD must be a whole number of seconds from 1 to 2147483/],
      ["KEYWARD_PRUNE_INTERVAL", "3000000", /KEYWARD_PRUNE_INTERVAL must be a whole number from 0 to 2147483/],
      ["KEYWARD_WORKERS", "1000000", /KEYWARD_WORKERS must be a whole number from 1 to 256/],
      ["KEYWARD_REQUEST_TIMEOUT", "0", /KEYWARD_REQUEST_TIMEOUT must be a whole number of seconds from 1 to 3600/],
    ] as const) {
      const result = runCli(["clients", "list"], { ...env, [name]: value });
      assert.equal(result.status, 2, `${name}=${value}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    for (const [name, value, message] of [
      ["KEYWARD_WORKERS", "0x10", /KEYWARD_WORKERS must be a whole number/],
      ["KEYWARD_WORKERS", " 5", /KEYWARD_WORKERS must be a whole number/],
      ["KEYWARD_CODE_TTL", "1e3", /KEYWARD_CODE_TTL must be a whole number of seconds/],
      ["KEYWARD_RATE_PER_CLIENT", "+5", /KEYWARD_RATE_PER_CLIENT must be a whole number/],
      ["KEYWARD_PG_POOL_SIZE", "99999999999", /KEYWARD_PG_POOL_SIZE must be a whole number from 1 to 1000/],
      ["KEYWARD_PRUNE_BATCH", "99999999999", /KEYWARD_PRUNE_BATCH must be a whole number from 1 to 100000/],
      ["KEYWARD_TRUST_PROXY", "99999999999", /KEYWARD_TRUST_PROXY as a hop count must be at most 100/],
      ["DATABASE_URL", "mysql://localhost/db", /DATABASE_URL must be a SQLite file path or a postgres:\/\//],
      ["DATABASE_URL", "http://example.com/db", /DATABASE_URL must be a SQLite file path/],
      ["DATABASE_URL", "file:/tmp/keyward.db", /DATABASE_URL must be a SQLite file path/],
      ["REDIS_URL", "http://127.0.0.1:6379", /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
      ["REDIS_URL", "garbage url", /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
      [
        "KEYWARD_ADMIN_TOKEN",
        "correct horse battery staple and more words",
        /KEYWARD_ADMIN_TOKEN must be printable ASCII/,
      ],
      ["KEYWARD_ADMIN_TOKEN", `${"x".repeat(32)}\u00e9`, /KEYWARD_ADMIN_TOKEN must be printable ASCII/],
    ] as const) {
      assert.throws(() => loadConfig({ DATABASE_URL: ":memory:", [name]: value }), message, `${name}=${value}`);
    }
    assert.equal(loadConfig({ DATABASE_URL: ":memory:", KEYWARD_TRUST_PROXY: "2" }).trustProxy, 2);
    for (const workers of ["1000000", "0x2", "1e1"]) {
      const forks = runCli(["start", "--workers", workers], env);
      assert.equal(forks.status, 2, forks.stderr);
      assert.match(forks.stderr, /--workers must be a whole number from 1 to 256/);
    }
    assert.equal(
      loadConfig({ DATABASE_URL: ":memory:", REDIS_URL: "rediss://cache.example:6380/2" }).redisUrl,
      "rediss://cache.example:6380/2",
    );
    const accepted = loadConfig({
      DATABASE_URL: ":memory:",
      KEYWARD_TRUST_PROXY: "loopback, 10.0.0.0/8, 192.168.0.0/255.255.0.0, ::1, fd00::/8",
      LOG_LEVEL: "debug",
      KEYWARD_ISSUER: "https://auth.example/base/",
    });
    assert.deepEqual(accepted.trustProxy, ["loopback", "10.0.0.0/8", "192.168.0.0/255.255.0.0", "::1", "fd00::/8"]);
    assert.equal(accepted.issuer, "https://auth.example/base");
    // Unset, the issuer is where the server listens by default, the URL the README's walk-through uses.
    assert.equal(loadConfig({ DATABASE_URL: ":memory:", PORT: "8088" }).issuer, "http://127.0.0.1:8088");
  });

  test("a word more than a command takes is refused, before anything runs", () => {
    for (const args of [
      ["keys", "rotate", "extra"],
      ["migrate", "extra"],
      ["clients", "list", "extra"],
      ["clients", "show", "OC-x", "extra"],
      ["start", "extra"],
    ]) {
      const result = runCli(args, env);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /unexpected argument: extra/);
    }
  });

  test("an option given twice is refused, unless it takes a list", () => {
    const twice = ["clients", "create", "--name", "T", "--redirect-uri", "https://a.example/cb"];
    for (const [option, first, second] of [
      ["--scope", "profile:read", "design:meta:read"],
      ["--name", "T", "U"],
    ] as const) {
      const result = runCli([...twice, "--scope", "profile:read", option, first, option, second], env);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`${option} given more than once`));
    }
    const list = json([...twice, "--redirect-uri", "https://a.example/other", "--scope", "profile:read"]);
    assert.deepEqual(list.redirect_uris, ["https://a.example/cb", "https://a.example/other"]);
  });

  test("commands do not wait for Redis, which only rate limits use", () => {
    const result = runCli(["users", "list"], { ...env, REDIS_URL: "redis://127.0.0.1:1" });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Redis/);
  });

  test("an option a command does not take is refused, and nothing is done", () => {
    json(["users", "create", "--email", "kept@example.com", "--password", "long enough"]);
    for (const args of [
      ["users", "delete", "--email", "kept@example.com", "--client", "OC-x"],
      ["users", "set-password", "--email", "kept@example.com", "--password", "another one", "--json"],
      [
        "clients",
        "create",
        "--name",
        "T",
        "--redirect-uri",
        "https://a.example/cb",
        "--scope",
        "profile:read",
        "--email",
        "x",
      ],
      ["prune", "--webhooks"],
      ["migrate", "--json"],
      ["start", "--json"],
    ]) {
      const result = runCli(args, env);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /^keyward: --\S+ does not apply to /);
    }
    assert.ok(json(["users", "show", "--email", "kept@example.com"]).user_id, "the user is still there");
    assert.equal(
      runCli(["users", "delete", "--email", "kept@example.com", "--help"], env).status,
      0,
      "--help goes anywhere",
    );
  });

  test("PostgreSQL without KEYWARD_SECRET is a configuration error", () => {
    const result = runCli(["clients", "list"], { DATABASE_URL: "postgres://127.0.0.1:1/none", KEYWARD_SECRET: "" });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /KEYWARD_SECRET must be set/);
  });
});
