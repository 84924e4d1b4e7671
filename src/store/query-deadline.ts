import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type pg from "pg";

/**
 * How much longer than `statement_timeout` a query may take before its connection is taken for
 * dead: PostgreSQL cancels a slow statement itself and says so, so an answer later than this
 * means the path between here and the database has gone silent.
 */
export const QUERY_DEADLINE_MARGIN_MS = 5_000;

/** A pool client as the store uses it: a query by text or by config (a named statement), and release. */
export interface QueryClient {
  query(config: unknown, values?: unknown): Promise<unknown> | PostgresCursor<unknown>;
  release(): void;
}

/** Where clients come from: a pg pool, or one that bounds their queries in time. */
export interface ClientSource {
  connect(): Promise<QueryClient>;
  end(): Promise<void>;
}

/**
 * A pg pool whose queries each have a deadline. `statement_timeout` works inside the server, and
 * TCP keepalive only notices a peer that stops acknowledging; a connection whose path goes silent
 * (a NAT or load balancer dropping it, a failover whose old primary vanished) would otherwise hold
 * its request, and its place in the pool, for good. Past the deadline the connection is destroyed:
 * the query fails as unavailable (a 503), and the pool replaces the connection.
 */
export class DeadlinePool implements PostgresPool, ClientSource {
  /** Every connection the pool holds, to cut at the end if it will not close. */
  private readonly clients = new Set<pg.PoolClient>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly deadlineMs: number,
  ) {
    pool.on("connect", (client) => this.clients.add(client));
    pool.on("remove", (client) => this.clients.delete(client));
  }

  async connect(): Promise<DeadlineClient> {
    return new DeadlineClient(await this.pool.connect(), this.deadlineMs);
  }

  /**
   * Closes every connection. Closing one politely waits for the server's goodbye, which a silent
   * path never brings: past the deadline, what is left is cut.
   */
  async end(): Promise<void> {
    const ended = this.pool.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.deadlineMs);
    });
    await Promise.race([ended, late]);
    clearTimeout(timer);
    for (const client of this.clients) cut(client);
    await ended;
  }
}

/** The socket under a pg client, which pg does not name in its types. */
type WithSocket = { connection?: { stream?: { destroy(error?: Error): void } } };

/** Destroys a client's socket: its pending queries fail with pg's "Connection terminated", and the pool drops it. */
function cut(client: pg.Client): void {
  (client as unknown as WithSocket).connection?.stream?.destroy();
}

export class DeadlineClient implements PostgresPoolClient, QueryClient {
  private dead = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly deadlineMs: number,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query(config: unknown, values?: unknown): Promise<unknown> | PostgresCursor<unknown>;
  query(config: unknown, values?: unknown): Promise<unknown> | PostgresCursor<unknown> {
    const client = this.client as unknown as {
      query(config: unknown, values?: unknown): Promise<unknown> | PostgresCursor<unknown>;
    };
    const pending = client.query(config, values);
    if (!(pending instanceof Promise)) return pending;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.dead = true;
        const error = Object.assign(
          new Error(`Query read timeout: no answer from PostgreSQL in ${this.deadlineMs} ms`),
          {
            code: "ETIMEDOUT",
          },
        );
        cut(this.client);
        reject(error);
      }, this.deadlineMs);
    });
    return Promise.race([pending, deadline]).finally(() => clearTimeout(timer));
  }

  release(): void {
    // A connection given up on goes out of the pool rather than back into it.
    this.client.release(this.dead || undefined);
  }
}

/** Ends a connection of its own (not a pool's), cutting it if the server has not said goodbye within `ms`. */
export async function endWithin(client: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([client.end().catch(() => {}), late]);
  clearTimeout(timer);
  cut(client);
}
