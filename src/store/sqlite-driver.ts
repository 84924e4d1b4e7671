import { setTimeout as sleep } from "node:timers/promises";
import type SQLite from "better-sqlite3";
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult } from "kysely";
import { isSqliteBusy } from "./errors.js";
import { FifoLock } from "./fifo-lock.js";
import type { WalSync } from "./wal-sync.js";

const MAX_CACHED_STATEMENTS = 500;

/** A statement that does not write changes no table, whatever its text names. */
const NO_WORDS: ReadonlySet<string> = new Set();

interface SavepointSql {
  open: string;
  release: string;
  rollback: string;
}

const SAVEPOINT_SQL: SavepointSql[] = [];

/** A savepoint's statements at one nesting depth, written once: a statement is found by its text. */
function savepointSql(depth: number): SavepointSql {
  let sql = SAVEPOINT_SQL[depth];
  if (!sql) {
    sql = { open: `savepoint tx${depth}`, release: `release tx${depth}`, rollback: `rollback to tx${depth}` };
    SAVEPOINT_SQL[depth] = sql;
  }
  return sql;
}

/**
 * The longest pause between two attempts at the write lock while another connection holds it.
 * Another worker holds it for about one turn of its event loop; with pauses of up to 4 ms,
 * revocation under two workers had a p99 of 28-32 ms, with 1 ms 14-18 ms (at 3-5% fewer requests/s).
 */
const MAX_LOCK_PAUSE_MS = 1;

interface CachedStatement {
  statement: SQLite.Statement;
  returnsRows: boolean;
  writes: boolean;
  /** For a statement that writes, every word in its text: the tables it can change are among them. */
  words: ReadonlySet<string>;
  /** Makes a row from the values better-sqlite3 returns in raw mode, for a statement that returns rows. */
  toRow: RowMaker;
}

type RowMaker = (values: readonly unknown[]) => Record<string, unknown>;

/**
 * Rows as Kysely expects them, from the values better-sqlite3 returns in raw mode. better-sqlite3
 * builds its own row objects through V8's C++ API, one property at a time; a loop assigning
 * `row[name]` here would miss V8's inline caches on every property. The maker is one object
 * literal per statement instead, so every row of a statement is built in one step and has one
 * hidden class. Column names become quoted keys (JSON escaping makes any name a valid one); a
 * column named `__proto__` would set the prototype in a literal, so such a statement defines its
 * properties one by one.
 */
function rowMaker(columns: readonly string[]): RowMaker {
  if (columns.includes("__proto__")) {
    return (values) => {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < columns.length; i++) {
        const descriptor = { value: values[i], enumerable: true, writable: true, configurable: true };
        Object.defineProperty(row, columns[i] as string, descriptor);
      }
      return row;
    };
  }
  const fields = columns.map((name, i) => `${JSON.stringify(name)}: values[${i}]`).join(", ");
  return new Function("values", `return { ${fields} };`) as RowMaker;
}

/**
 * Kysely's driver for better-sqlite3, written for a server with many requests in flight:
 *
 * - Statements are prepared once and reused.
 * - Requests wait for the one connection in arrival order. Kysely's own SQLite driver wakes every
 *   waiter whenever the connection is released, so fifty queued requests cost fifty wake-ups per query.
 * - Transactions are batched (group commit). The first transaction opens a write transaction
 *   (`begin immediate`); it and every transaction that starts before the next turn of the event
 *   loop run as savepoints inside it, and a single `commit` then covers them all. A transaction
 *   that fails rolls back to its own savepoint and leaves the others alone. `settle()` resolves once
 *   the batch open at the time of the call is committed; nothing may be acknowledged before that
 *   (the server awaits `Store.flush`, which calls it, before every response).
 * - Reads outside transactions share one read transaction per event-loop turn. In WAL mode each
 *   read transaction takes and drops a shared-memory lock with two `fcntl` calls; sharing it saves
 *   those per statement. Such a read sees the database as it was when the turn's first read began:
 *   a commit by another process in the same turn shows from the next turn on. A transaction or a
 *   write ends the shared read first, so writes never run on a snapshot.
 * - A batch waits for the write lock without blocking the event loop. SQLite's busy handler sleeps
 *   on the calling thread, so while another process (a worker, the CLI) held the lock, every request
 *   of this process stalled with it. The batch tries `begin immediate` without the handler and, if
 *   the lock is taken, tries again after a short timer, up to `lockWaitMs`; then it fails with
 *   SQLITE_BUSY as before. Other statements keep the handler (`busy_timeout`).
 * - Every commit is counted, so `WalSync.flush` knows what to make durable.
 */
export class BetterSqliteDriver implements Driver {
  private readonly lock = new FifoLock();
  private readonly connection: BetterSqliteConnection;
  private batch: Batch | undefined;
  /** A batch SQLite rolled back by itself, until the end of the turn it happened in (see settle). */
  private lostBatch: Batch | undefined;
  private savepoints = 0;
  private reading = false;
  /** Events after which any table may read differently (see `tableView`). */
  private boundaries = 0;
  /** For each table whose view was asked for, how many write statements named it. */
  private readonly tableWrites = new Map<string, number>();

  constructor(
    private readonly database: SQLite.Database,
    private readonly wal: WalSync,
    private readonly lockWaitMs: number,
  ) {
    this.connection = new BetterSqliteConnection(
      database,
      (writes) => this.beforeStatement(writes),
      (statement) => {
        this.noteChange(statement);
        // A write outside any transaction commits by itself unless a batch holds it.
        if (!this.database.inTransaction) this.wal.noteWrite();
      },
    );
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock.acquire();
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    this.lock.release();
  }

  /**
   * Runs a compiled statement at once, as Kysely would have run it once its turn came: when the
   * connection is free, or when the caller's own transaction holds it (`inOwnTransaction`).
   * Undefined when another request holds the connection. Kysely hands each query through several
   * async layers (runtime driver, connection provider, executor), each a promise and a microtask;
   * a statement that needs no wait skips them. Kysely plugins would not see such a query; the
   * store uses none.
   */
  executeNow<R>(compiled: CompiledQuery, inOwnTransaction: boolean): QueryResult<R> | undefined {
    if (inOwnTransaction) {
      this.assertInTransaction();
      return this.connection.executeSync<R>(compiled);
    }
    if (!this.lock.tryAcquire()) return undefined;
    try {
      return this.connection.executeSync<R>(compiled);
    } finally {
      this.lock.release();
    }
  }

  /**
   * Runs `work` as one transaction of the batch, holding the connection throughout, as Kysely's
   * `transaction().execute()` does on this driver. `work` must run its statements on a database
   * over `heldConnection`. Kysely's own path builds a transaction object, an executor and a
   * connection provider and passes each step through a promise; one transaction per request made
   * that a measurable part of every token request.
   */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (!this.lock.tryAcquire()) await this.lock.acquire();
    try {
      // Only opening a batch can wait (for another process's write lock); joining the open one cannot.
      if (this.database.inTransaction && !this.reading) this.beginSavepoint();
      else await this.beginTransaction();
      try {
        const result = await work();
        this.endSavepoint();
        return result;
      } catch (error) {
        this.rollbackOwn(error);
        throw error;
      }
    } finally {
      this.lock.release();
    }
  }

  /** The connection, for statements of a transaction that `transaction` runs while it holds it. */
  get heldConnection(): DatabaseConnection {
    this.assertInTransaction();
    return this.connection;
  }

  /** A statement of a transaction that has ended would run unlocked, inside whatever holds the connection. */
  private assertInTransaction(): void {
    if (this.savepoints === 0) throw new Error("a statement of a transaction that has already ended");
  }

  async beginTransaction(): Promise<void> {
    this.endSharedRead();
    if (!this.database.inTransaction) await this.openBatch();
    this.beginSavepoint();
  }

  async commitTransaction(): Promise<void> {
    this.endSavepoint();
  }

  private beginSavepoint(): void {
    this.savepoints++;
    this.connection.run(savepointSql(this.savepoints).open);
  }

  private endSavepoint(): void {
    this.connection.run(savepointSql(this.savepoints).release);
    this.savepoints--;
  }

  async rollbackTransaction(): Promise<void> {
    this.rollbackOwn(undefined);
  }

  /** `cause`: the failure the transaction ends on, which may have been SQLite's reason to roll everything back. */
  private rollbackOwn(cause: unknown): void {
    const sql = savepointSql(this.savepoints);
    this.savepoints--;
    this.boundaries++;
    if (!this.database.inTransaction) {
      // SQLite rolled the whole write transaction back on its own (an I/O error, a full disk):
      // every transaction in the batch is lost, and the requests that ran them must not succeed.
      // They fail with the cause's code: a full disk is answered 503 as for a failed commit.
      const { code } = (cause ?? {}) as { code?: unknown };
      const lost = new Error("SQLite rolled back a batch of transactions", { cause });
      const batch = this.batch;
      this.batch = undefined;
      if (!batch) return;
      batch.fail(typeof code === "string" ? Object.assign(lost, { code }) : lost);
      // A request whose transaction was in it may only now come to flush, later in this turn.
      this.lostBatch = batch;
      setImmediate(() => {
        if (this.lostBatch === batch) this.lostBatch = undefined;
      });
      return;
    }
    this.connection.run(sql.rollback);
    this.connection.run(sql.release);
  }

  /**
   * A number that changes whenever what this connection reads from `table` may change: when a
   * write statement naming the table runs, a savepoint rolls back, a batch opens or ends, the
   * shared read ends (after which commits by other processes show), or a statement that is not a
   * write (a raw `begin` or `commit`) runs outside the reads. Opening the shared read keeps it:
   * nothing was read in the current view before that read began. The schema has no triggers and
   * no foreign-key actions, so only a statement that names a table changes its rows. Reads of a
   * table that see one view all see the same rows.
   */
  tableView(table: string): number {
    let writes = this.tableWrites.get(table);
    if (writes === undefined) {
      writes = 0;
      this.tableWrites.set(table, writes);
    }
    return this.boundaries + writes;
  }

  /** After a statement that may have changed data: counts it for the tables it names. */
  private noteChange(statement: CachedStatement): void {
    if (!statement.writes) {
      this.boundaries++;
      return;
    }
    for (const [table, writes] of this.tableWrites) {
      if (statement.words.has(table)) this.tableWrites.set(table, writes + 1);
    }
  }

  get hasOpenBatch(): boolean {
    return this.batch !== undefined || this.lostBatch !== undefined;
  }

  /**
   * Resolves once every transaction committed so far is committed to the WAL for good; rejects
   * until the end of the turn in which SQLite rolled a batch back by itself.
   */
  settle(): Promise<void> {
    const lost = this.lostBatch?.committed;
    const open = this.batch?.committed;
    if (lost === undefined) return open ?? Promise.resolve();
    return open === undefined ? lost : Promise.all([lost, open]).then(() => {});
  }

  async destroy(): Promise<void> {
    await this.settle().catch(() => {});
    await this.lock.acquire();
    try {
      this.endSharedRead();
      this.database.close();
    } finally {
      this.lock.release();
    }
  }

  /** Called with the connection held, before each statement Kysely runs. */
  private beforeStatement(writes: boolean): void {
    if (this.reading) {
      if (writes) this.endSharedRead();
    } else if (!writes && !this.database.inTransaction) {
      this.connection.run("begin");
      this.reading = true;
      // Ending a read-only transaction has nothing to lose; a failure there must not end the process.
      setImmediate(() => this.finishSharedRead().catch(() => {}));
    }
  }

  /**
   * After another connection of this process committed a write whose caller is about to hear of
   * it: ends the shared read, whose snapshot may predate that commit, so the caller's next read
   * sees its own write.
   */
  async afterOtherCommit(): Promise<void> {
    if (!this.reading) return;
    await this.finishSharedRead();
  }

  private async finishSharedRead(): Promise<void> {
    await this.lock.acquire();
    try {
      this.endSharedRead();
    } finally {
      this.lock.release();
    }
  }

  private endSharedRead(): void {
    if (!this.reading) return;
    this.reading = false;
    this.boundaries++;
    this.connection.run("commit");
  }

  private async openBatch(): Promise<void> {
    const deadline = Date.now() + this.lockWaitMs;
    for (let pause = 1; !this.tryBeginImmediate(); pause = Math.min(pause * 2, MAX_LOCK_PAUSE_MS)) {
      if (Date.now() >= deadline) {
        throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      }
      await sleep(pause);
    }
    this.boundaries++;
    const batch = new Batch();
    this.batch = batch;
    setImmediate(() => void this.commitBatch(batch));
  }

  /** `begin immediate` without SQLite's blocking busy handler: false if another connection holds the lock. */
  private tryBeginImmediate(): boolean {
    this.connection.run("pragma busy_timeout = 0");
    try {
      this.connection.run("begin immediate");
      return true;
    } catch (error) {
      if (isSqliteBusy(error)) return false;
      throw error;
    } finally {
      this.connection.run(`pragma busy_timeout = ${this.lockWaitMs}`);
    }
  }

  private async commitBatch(batch: Batch): Promise<void> {
    await this.lock.acquire();
    try {
      if (this.batch !== batch) return;
      this.batch = undefined;
      this.boundaries++;
      this.connection.run("commit");
      this.wal.noteWrite();
      batch.succeed();
    } catch (error) {
      // The waiters hear of the failure first; a rollback that fails too must not leave them waiting.
      batch.fail(error);
      try {
        if (this.database.inTransaction) this.database.exec("rollback");
      } catch {
        // The next `begin immediate` fails and reports it to its own callers.
      }
    } finally {
      this.lock.release();
    }
  }
}

class Batch {
  readonly committed: Promise<void>;
  succeed: () => void = () => {};
  fail: (error: unknown) => void = () => {};

  constructor() {
    this.committed = new Promise<void>((resolve, reject) => {
      this.succeed = resolve;
      this.fail = reject;
    });
    // Waiters may not have arrived when a batch fails; the rejection is theirs to see, not an unhandled one.
    this.committed.catch(() => {});
  }
}

class BetterSqliteConnection implements DatabaseConnection {
  private readonly statements = new Map<string, CachedStatement>();

  constructor(
    private readonly database: SQLite.Database,
    private readonly beforeStatement: (writes: boolean) => void,
    private readonly onWrite: (statement: CachedStatement) => void,
  ) {}

  run(text: string): void {
    this.prepare(text).statement.run();
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return this.executeSync(compiled);
  }

  executeSync<R>(compiled: CompiledQuery): QueryResult<R> {
    const cached = this.prepare(compiled.sql);
    const { statement, returnsRows, writes, toRow } = cached;
    this.beforeStatement(writes);
    const parameters = compiled.parameters as unknown[];
    if (returnsRows) {
      const rows = (statement.all(parameters) as unknown[][]).map((values) => toRow(values) as R);
      if (writes) this.onWrite(cached);
      return { rows };
    }
    const { changes, lastInsertRowid } = statement.run(parameters);
    this.onWrite(cached);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const { statement, returnsRows, writes, toRow } = this.prepare(compiled.sql);
    if (!returnsRows) throw new Error("only queries that return rows can be streamed");
    this.beforeStatement(writes);
    for (const values of statement.iterate(compiled.parameters as unknown[])) {
      yield { rows: [toRow(values as unknown[]) as R] };
    }
  }

  private prepare(text: string): CachedStatement {
    let cached = this.statements.get(text);
    if (!cached) {
      const statement = this.database.prepare(text);
      const returnsRows = statement.reader;
      if (returnsRows) statement.raw(true);
      const columns = returnsRows ? statement.columns().map((column) => column.name) : [];
      const writes = !statement.readonly;
      const words: ReadonlySet<string> = writes ? new Set(text.match(/\w+/g)) : NO_WORDS;
      cached = { statement, returnsRows, writes, words, toRow: rowMaker(columns) };
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      this.statements.set(text, cached);
    }
    return cached;
  }
}
