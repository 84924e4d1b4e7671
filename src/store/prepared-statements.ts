import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import { isCachedPlanInvalid } from "./errors.js";
import type { ClientSource, QueryClient } from "./query-deadline.js";

/** Beyond this many distinct statements, further ones are sent unnamed rather than kept on every connection. */
const MAX_NAMED_STATEMENTS = 500;

/**
 * Kysely's view of a pg pool that sends every query with parameters as a named prepared
 * statement. PostgreSQL plans a statement sent without a name on every execution; a named one is
 * parsed and planned once per connection, then only bound and executed (for a token lookup on a
 * 2-core machine, PostgreSQL's CPU per query fell from about 300 to about 110 µs: see
 * bench/checks/pg-prepared.ts).
 * Queries without parameters (`begin`, `commit`, migrations' DDL) go as they are.
 *
 * A table whose columns change (a migration run by a newer instance) leaves `select *`
 * statements prepared before it unusable: PostgreSQL answers "cached plan must not change result
 * type". Every connection then prepares its statements again under new names; a query outside a
 * transaction is retried at once, and a transaction fails with an error the store retries whole.
 */
export class PreparingPool implements PostgresPool {
  private readonly ids = new Map<string, number>();
  /** Bumped when prepared statements went stale, so that every connection prepares them anew. */
  private generation = 0;

  constructor(private readonly pool: ClientSource) {}

  async connect(): Promise<PostgresPoolClient> {
    return new PreparingClient(await this.pool.connect(), this);
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  /** The statement name for `sql`, or undefined to send it unnamed. */
  nameFor(sql: string): string | undefined {
    let id = this.ids.get(sql);
    if (id === undefined) {
      if (this.ids.size >= MAX_NAMED_STATEMENTS) return undefined;
      id = this.ids.size;
      this.ids.set(sql, id);
    }
    return `kw${id}_${this.generation}`;
  }

  forgetPrepared(): void {
    this.generation++;
  }
}

class PreparingClient implements PostgresPoolClient {
  /** Kysely's driver opens and ends transactions with these exact statements. */
  private inTransaction = false;

  constructor(
    private readonly client: QueryClient,
    private readonly pool: PreparingPool,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    const client = this.client as {
      query(config: unknown, values?: unknown): Promise<PostgresQueryResult<R>> | PostgresCursor<R>;
    };
    if (typeof sqlOrCursor !== "string") return client.query(sqlOrCursor) as PostgresCursor<R>;
    // Kysely's driver hands over a fresh array; pg only reads it.
    const values = (parameters ?? []) as unknown[];
    if (values.length === 0) {
      this.noteTransaction(sqlOrCursor);
      return client.query(sqlOrCursor, values) as Promise<PostgresQueryResult<R>>;
    }
    return this.named(sqlOrCursor, values);
  }

  release(): void {
    this.client.release();
  }

  private async named<R>(text: string, values: unknown[], retried = false): Promise<PostgresQueryResult<R>> {
    const name = this.pool.nameFor(text);
    try {
      return (await this.client.query({ name, text, values })) as unknown as PostgresQueryResult<R>;
    } catch (error) {
      if (!isCachedPlanInvalid(error)) throw error;
      this.pool.forgetPrepared();
      if (this.inTransaction || retried) throw error;
      return this.named(text, values, true);
    }
  }

  private noteTransaction(sql: string): void {
    const statement = sql.trim().toLowerCase();
    if (statement === "begin" || statement.startsWith("start transaction")) this.inTransaction = true;
    else if (statement === "commit" || statement === "rollback") this.inTransaction = false;
  }
}
