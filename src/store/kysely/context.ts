/**
 * What every area of the Kysely store works through: the database (or the transaction) it runs on,
 * the engine's abilities, and the ways its statements run (compiled once, on the write thread,
 * retried alone, or in a transaction).
 */
import type { Compilable, CompiledQuery, Kysely, Transaction } from "kysely";
import { retryOnConflict } from "../errors.js";
import { QueryCache } from "../query-cache.js";
import type { Database } from "../schema.js";
import type { WriteAlone } from "../sqlite.js";
import type { ClientRecord } from "../types.js";
import { ViewMemo } from "../view-memo.js";

/** Runs `work` as one transaction on `tx`, committing when it resolves and rolling back when it throws. */
export type TransactionRunner = <T>(work: (tx: Transaction<Database>) => Promise<T>) => Promise<T>;

export interface ContextOptions {
  queries?: QueryCache;
  /** Clients as read in the connection's current view; authentication reads one per request. */
  clients?: ViewMemo<ClientRecord | undefined>;
  /** Runs a transaction where the engine has a quicker way than Kysely's (SQLite). */
  transactions?: TransactionRunner;
  /**
   * Called once a change to a client has committed, where other processes' memos of clients do not
   * follow the table by themselves (PostgreSQL). Only the outermost store calls it: inside a
   * transaction, the change has not committed yet.
   */
  announceClientChange?: () => Promise<void>;
  /**
   * The engine runs writes inside `with` (PostgreSQL's data-modifying CTEs), so writes that belong
   * together can go as one statement: atomic without a transaction, in one round trip instead of
   * four (begin, each write, commit). SQLite cannot; there they run as one transaction: a group on
   * the write thread for revocations, the serving connection's batch for the rest.
   */
  writableCtes?: boolean;
  /** SQLite only: runs idempotent write groups on the write thread (see WriteAlone). */
  writeAlone?: WriteAlone;
  /**
   * The engine locks rows (PostgreSQL's FOR UPDATE, FOR KEY SHARE); without, a write transaction
   * holds the whole database (SQLite), so the holds that take row locks have nothing to do.
   */
  rowLocks?: boolean;
  /**
   * Statements run on the event loop's own thread (SQLite): a long one holds every request, so
   * bulk deletes size their batches by time (see BatchSize).
   */
  statementsHoldEventLoop?: boolean;
}

/**
 * The plumbing of the Kysely store, which the functions of each area (clients.ts, tokens.ts, …)
 * take as their first argument. The store itself is one (KyselyStore extends it), and so is the
 * store of each of its transactions: a transaction costs no object besides its store.
 */
export abstract class KyselyContext {
  readonly queries: QueryCache;
  readonly clients: ViewMemo<ClientRecord | undefined>;
  readonly transactions: TransactionRunner | undefined;
  readonly announceClientChange: () => Promise<void>;
  readonly writableCtes: boolean;
  readonly writeAlone: WriteAlone | undefined;
  readonly rowLocks: boolean;
  readonly statementsHoldEventLoop: boolean;
  private lastInner: this | undefined;

  constructor(
    readonly db: Kysely<Database> | Transaction<Database>,
    options: ContextOptions,
  ) {
    this.queries = options.queries ?? new QueryCache();
    this.clients = options.clients ?? new ViewMemo();
    this.transactions = options.transactions;
    this.announceClientChange = options.announceClientChange ?? (async () => {});
    this.writableCtes = options.writableCtes ?? false;
    this.writeAlone = options.writeAlone;
    this.rowLocks = options.rowLocks ?? false;
    this.statementsHoldEventLoop = options.statementsHoldEventLoop ?? false;
  }

  /** A store over `trx` that shares this one's compiled queries, memo of clients and engine. */
  protected abstract newStoreIn(trx: Transaction<Database>): this;

  /** The store of `trx` when transactions run through `transactions`: they all share one `trx`, and so one store. */
  private storeIn(trx: Transaction<Database>): this {
    if (this.lastInner?.db !== trx) this.lastInner = this.newStoreIn(trx);
    return this.lastInner;
  }

  /** The hot paths' queries, compiled once (see QueryCache). */
  run<Row, Args extends unknown[]>(
    name: string,
    build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>,
    ...args: Args
  ) {
    const db = this.db as Kysely<Database>;
    return this.queries.execute(db, name, (...slots: Args) => build(db, ...slots), args, this.db.isTransaction);
  }

  /** A hot query compiled with these arguments, for a statement that runs elsewhere (see WriteAlone). */
  compile<Row, Args extends unknown[]>(
    name: string,
    build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>,
    ...args: Args
  ) {
    const db = this.db as Kysely<Database>;
    return this.queries.compiled(name, (...slots: Args) => build(db, ...slots), args);
  }

  /**
   * The rows each statement changed (a query: returned), run as one group on the write thread;
   * undefined where there is none.
   */
  writtenAlone(statements: CompiledQuery[]): Promise<number[] | undefined> {
    const { writeAlone } = this;
    if (!writeAlone) return Promise.resolve(undefined);
    return retryOnConflict(() => writeAlone(statements));
  }

  /**
   * Retries one statement that lost a deadlock or a serialization conflict when it runs on its own;
   * inside a transaction, the transaction is what gets retried.
   */
  retriedAlone<T>(statement: () => Promise<T>): Promise<T> {
    return this.db.isTransaction ? statement() : retryOnConflict(statement);
  }

  /** Runs `work` in one transaction, on the store of that transaction (see Store.transaction). */
  async transaction<T>(work: (tx: this) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    const { transactions } = this;
    if (transactions) return retryOnConflict(() => transactions((trx) => work(this.storeIn(trx))));
    const db = this.db as Kysely<Database>;
    return retryOnConflict(() => db.transaction().execute((trx) => work(this.newStoreIn(trx))));
  }
}
