import type { Compilable, CompiledQuery, Kysely, QueryResult } from "kysely";
import type { Database } from "./schema.js";

/**
 * Runs a compiled query at once, or answers undefined when it would have to wait its turn.
 * `inOwnTransaction`: the caller runs inside a transaction, which holds the connection.
 */
export type RunNow = (query: CompiledQuery, inOwnTransaction: boolean) => QueryResult<unknown> | undefined;

/** Stands in for an argument while a query is built once; compiles to an ordinary parameter. */
class Slot {
  constructor(readonly index: number) {}
}

interface Template {
  query: CompiledQuery;
  /** For each compiled parameter, the argument it takes, or -1 for a constant of the query. */
  slots: number[];
}

/**
 * Builds and compiles each hot query once per database, then runs it with new arguments.
 * Kysely otherwise rebuilds the operation tree and recompiles the SQL on every call, which costs
 * more than executing a point lookup. A query is built with placeholders in place of its
 * arguments, so a builder must pass its arguments straight into Kysely, never inspect them.
 */
export class QueryCache {
  private readonly templates = new Map<string, Template>();

  /** `runNow`, where the engine has one, runs a compiled query without waiting when it can (SQLite). */
  constructor(private readonly runNow?: RunNow) {}

  /** `inTransaction`: `db` is a transaction, which holds the connection while its work runs. */
  execute<Row, Args extends unknown[]>(
    db: Kysely<Database>,
    name: string,
    build: (...args: Args) => Compilable<Row>,
    args: Args,
    inTransaction = false,
  ): Promise<QueryResult<Row>> {
    const compiled = this.compiled(name, build, args);
    const now = this.runNow?.(compiled, inTransaction);
    return now ? Promise.resolve(now as QueryResult<Row>) : db.executeQuery<Row>(compiled);
  }

  /** The query `name` with these arguments, compiled from its template. */
  compiled<Row, Args extends unknown[]>(
    name: string,
    build: (...args: Args) => Compilable<Row>,
    args: Args,
  ): CompiledQuery<Row> {
    let template = this.templates.get(name);
    if (!template) {
      template = compileTemplate(build, args.length);
      this.templates.set(name, template);
    }
    const { query, slots } = template;
    const parameters = query.parameters.map((constant, i) => {
      const slot = slots[i] as number;
      return slot === -1 ? constant : args[slot];
    });
    return { query: query.query, queryId: query.queryId, sql: query.sql, parameters };
  }
}

function compileTemplate<Args extends unknown[]>(build: (...args: Args) => Compilable<unknown>, arity: number) {
  const placeholders = Array.from({ length: arity }, (_, index) => new Slot(index)) as unknown as Args;
  const query = build(...placeholders).compile();
  const slots = query.parameters.map((value) => (value instanceof Slot ? value.index : -1));
  const used = new Set(slots);
  for (let index = 0; index < arity; index++) {
    if (!used.has(index)) throw new Error(`query argument ${index} does not reach the compiled query`);
  }
  return { query, slots };
}
