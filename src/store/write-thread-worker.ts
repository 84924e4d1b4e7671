import { parentPort, workerData } from "node:worker_threads";
import SQLite from "better-sqlite3";

/**
 * The thread behind `WriteThread`: its own connection to the database file, which runs groups of
 * compiled write statements (and the queries they depend on). Each message is a batch; the batch
 * is one write transaction. Its groups run one after another; should one fail, the transaction
 * rolls back and runs them again, each in a savepoint, so that the failing group rolls back alone.
 * A group that begins with a query acts on the query's row: the statements after it take the row's
 * columns as their named parameters (`@column`), and are skipped when it returned none. The
 * reply comes once the commit is in the WAL; the main thread makes it durable (see WalSync) before
 * anything is acknowledged.
 */
export interface WriteThreadData {
  path: string;
  busyTimeoutMs: number;
  pageCacheKib?: number;
}

/**
 * A batch as the main thread sends it: JSON text, which crosses to this thread as one string copy,
 * where a structured clone of the same arrays cost the event loop about 5 µs a revocation. A
 * statement's text crosses once, in the first batch that runs it; after that, only its number.
 */
export interface WriteBatch {
  id: number;
  /** Statement texts new in this batch; they take the next numbers, in order. */
  texts: string[];
  /** Each group's statements, each as its number followed by its parameters. */
  groups: (string | number | null)[][][];
}

/** A statement's failure, as much of it as `isTransientConflict` and a log need. */
export interface WriteFailure {
  code: string;
  message: string;
}

/**
 * For each group, the rows each of its statements changed (or, for a query, returned), or why the
 * group was rolled back.
 */
export type GroupOutcome = { changes: number[] } | { failure: WriteFailure };

export type WriteReply = { id: number; outcomes: GroupOutcome[] } | { id: number; failure: WriteFailure };

const failureOf = (error: unknown): WriteFailure => {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return { code: typeof code === "string" ? code : "", message: typeof message === "string" ? message : String(error) };
};

const { path, busyTimeoutMs, pageCacheKib } = workerData as WriteThreadData;
const database = new SQLite(path);
// This thread can wait for the write lock in SQLite's busy handler: no event loop serves requests here.
database.pragma(`busy_timeout = ${busyTimeoutMs}`);
database.pragma("synchronous = NORMAL");
if (pageCacheKib !== undefined) database.pragma(`cache_size = -${pageCacheKib}`);
// The checkpoint thread copies the WAL back; a commit here never checkpoints inline.
database.pragma("wal_autocheckpoint = 0");

const texts: string[] = [];
const statements = new Map<string, SQLite.Statement>();
const prepared = (sql: string) => {
  let statement = statements.get(sql);
  if (!statement) {
    statement = database.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
};

/** Runs one group's statements; throws at the first that fails. */
function runStatements(group: (string | number | null)[][]): number[] {
  const changes: number[] = [];
  let leadingRow: unknown;
  for (const [index, [number, ...parameters]] of group.entries()) {
    const statement = prepared(texts[number as number] as string);
    if (!statement.reader) {
      // A statement without named parameters ignores the row.
      changes.push((leadingRow ? statement.run(...parameters, leadingRow) : statement.run(...parameters)).changes);
      continue;
    }
    const rows = statement.all(...parameters);
    changes.push(rows.length);
    if (index > 0) continue;
    leadingRow = rows[0];
    // Nothing for the rest to act on (and their named parameters would have nothing to bind).
    if (leadingRow === undefined) break;
  }
  while (changes.length < group.length) changes.push(0);
  return changes;
}

/** One group in a savepoint of its own, so that its failure rolls back that group alone. */
function runGroupAlone(group: (string | number | null)[][]): GroupOutcome {
  prepared("savepoint grp").run();
  try {
    const changes = runStatements(group);
    prepared("release grp").run();
    return { changes };
  } catch (error) {
    // An I/O error may have ended the whole transaction; runBatch then fails the batch.
    if (database.inTransaction) {
      prepared("rollback to grp").run();
      prepared("release grp").run();
    }
    return { failure: failureOf(error) };
  }
}

/**
 * The batch's groups without a savepoint each (two statements a group); undefined, with the
 * transaction rolled back, when any of them failed.
 */
function runTogether(groups: WriteBatch["groups"]): GroupOutcome[] | undefined {
  try {
    return groups.map((group) => ({ changes: runStatements(group) }));
  } catch {
    if (database.inTransaction) database.exec("rollback");
    return undefined;
  }
}

function runBatch({ id, texts: newTexts, groups }: WriteBatch): WriteReply {
  texts.push(...newTexts);
  try {
    prepared("begin immediate").run();
    let outcomes = runTogether(groups);
    if (!outcomes) {
      // Once more, each group in its own savepoint: the failing ones roll back, the rest commit.
      prepared("begin immediate").run();
      outcomes = [];
      for (const group of groups) {
        const outcome = runGroupAlone(group);
        // SQLite ended the whole transaction by itself (a full disk, an I/O error): the groups
        // before this one are gone with it, and one after it would commit alone, unreported.
        if (!database.inTransaction && "failure" in outcome) return { id, failure: outcome.failure };
        outcomes.push(outcome);
      }
    }
    prepared("commit").run();
    return { id, outcomes };
  } catch (error) {
    if (database.inTransaction) database.exec("rollback");
    return { id, failure: failureOf(error) };
  }
}

parentPort?.on("message", (message: string) => {
  if (message === "stop") {
    database.close();
    parentPort?.close();
    return;
  }
  parentPort?.postMessage(JSON.stringify(runBatch(JSON.parse(message) as WriteBatch)));
});
