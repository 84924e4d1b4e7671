/**
 * `node dist/bench/checks/revocation-sql.js [--lineages N]`: what each SQLite step of a
 * refresh-token revocation costs, with no HTTP and no event loop in the way. It mints N lineages
 * (default 60,000) as the benchmark does, each for a user of its own, then replays revocations in
 * minting order on a connection of its own, 15 to a write transaction (about what a group commit
 * gathers under the benchmark's load), each inside its own savepoint as the server runs it. The
 * statements are the store's, written out. Four passes over fresh lineages, timed step by step:
 *
 * - as shipped: the grants of the token's user with its client, found through `grants_client_user`;
 * - the same update by the token's own grant id, which skips that index (not the same semantics:
 *   it would leave the user's other lineages live), to show what reading the index costs;
 * - no statement at all, to show what the savepoints and an empty commit cost;
 * - as shipped again, to show the figures did not drift along the way.
 *
 * It also prints the write syscalls and bytes each commit cost (from /proc/self/io, so the
 * fixtures' checkpoint thread copying frames back counts too).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import SQLite from "better-sqlite3";
import { KeywardFixtures } from "../targets/keyward-fixtures.js";

const BATCH = 15;

const { values } = parseArgs({ options: { lineages: { type: "string", default: "60000" } } });
const lineages = Number(values.lineages);
if (!Number.isInteger(lineages) || lineages < 4 * BATCH) {
  throw new Error(`--lineages takes a whole number of at least ${4 * BATCH}`);
}

type Row = [hash: string, grantId: string, clientId: string, userId: string];
type Timer = (step: string, work: () => unknown) => void;
type Revocation = (time: Timer, row: Row) => void;

function writeCounters(): { syscalls: number; bytes: number } {
  const fields = new Map(
    readFileSync("/proc/self/io", "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(": ") as [string, string]),
  );
  return { syscalls: Number(fields.get("syscw")), bytes: Number(fields.get("wchar")) };
}

const fixtures = await KeywardFixtures.open(undefined, "http://127.0.0.1:1");
try {
  const started = Date.now();
  await fixtures.mintRefreshTokens(lineages);
  process.stdout.write(`minted ${lineages} lineages in ${Date.now() - started} ms\n`);

  const db = new SQLite(fixtures.env.DATABASE_URL ?? "");
  db.pragma("busy_timeout = 5000");
  db.pragma("synchronous = NORMAL");
  const rows = db
    .prepare(
      `select t.hash, t.grant_id, g.client_id, g.user_id from tokens t join grants g on g.id = t.grant_id
       where t.kind = 'refresh' order by t.hash`,
    )
    .raw(true)
    .all() as Row[];
  const find = db.prepare(
    `select t.kind, t.jti, t.grant_id, t.client_id, t.user_id, t.scopes, t.created_at, t.expires_at,
     t.consumed_at, g.revoked_at as grant_revoked_at from tokens t inner join grants g on g.id = t.grant_id
     where t.hash = ?`,
  );
  const revokeOfUser = db.prepare(
    "update grants set revoked_at = ? where client_id = ? and user_id = ? and revoked_at is null",
  );
  const revokeById = db.prepare("update grants set revoked_at = ? where id = ? and revoked_at is null");
  const deleteConsent = db.prepare("delete from consents where client_id = ? and user_id = ?");
  const savepoint = db.prepare("savepoint tx1");
  const release = db.prepare("release tx1");
  const begin = db.prepare("begin immediate");
  const commit = db.prepare("commit");

  const pass = (label: string, from: number, to: number, revoke: Revocation) => {
    const totals = new Map<string, number>();
    const time: Timer = (step, work) => {
      const start = process.hrtime.bigint();
      work();
      totals.set(step, (totals.get(step) ?? 0) + Number(process.hrtime.bigint() - start));
    };
    const before = writeCounters();
    for (let first = from; first < to; first += BATCH) {
      time("begin", () => begin.run());
      for (const row of rows.slice(first, Math.min(first + BATCH, to))) {
        time("find", () => find.get(row[0]));
        time("savepoint", () => savepoint.run());
        revoke(time, row);
        time("release", () => release.run());
      }
      time("commit", () => commit.run());
    }
    const after = writeCounters();
    const count = to - from;
    const commits = Math.ceil(count / BATCH);
    const steps = [...totals].map(([step, ns]) => `${step} ${(ns / count / 1000).toFixed(2)}`).join(", ");
    const total = [...totals.values()].reduce((sum, ns) => sum + ns, 0) / count / 1000;
    process.stdout.write(`${label}: ${steps}; in all ${total.toFixed(2)} µs a revocation\n`);
    process.stdout.write(
      `  ${((after.syscalls - before.syscalls) / commits).toFixed(1)} write syscalls and ` +
        `${Math.round((after.bytes - before.bytes) / commits)} bytes a commit\n`,
    );
  };

  const asShipped: Revocation = (time, [, , client, user]) => {
    time("update", () => revokeOfUser.run(Date.now(), client, user));
    time("consent", () => deleteConsent.run(client, user));
  };
  const quarter = Math.floor(rows.length / 4);
  pass("as shipped", 0, quarter, asShipped);
  pass("update by grant id", quarter, 2 * quarter, (time, [, grant, client, user]) => {
    time("update", () => revokeById.run(Date.now(), grant));
    time("consent", () => deleteConsent.run(client, user));
  });
  pass("no statements", 2 * quarter, 3 * quarter, () => {});
  pass("as shipped again", 3 * quarter, rows.length, asShipped);
  db.close();
} finally {
  await fixtures.close();
}
