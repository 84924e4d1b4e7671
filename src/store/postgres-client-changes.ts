import { type Kysely, sql } from "kysely";
import pg from "pg";
import { endWithin } from "./query-deadline.js";
import type { Database } from "./schema.js";
import type { ReadView } from "./view-memo.js";

/** Every process that changes a client announces it on this channel, after its commit. */
export const CLIENTS_CHANNEL = "keyward_clients";

export interface ClientChangeTimings {
  /**
   * The longest a remembered client serves without being read again, whatever was heard. Bounds
   * what a missed announcement leaves stale: a row edited by hand in SQL, a writer that died
   * between its commit and its announcement, a listening connection that hangs without breaking.
   */
  maxAgeMs: number;
  /** First wait before listening again once the connection broke or could not LISTEN; doubles up to 30 s. */
  retryMs: number;
  connectTimeoutMs: number;
}

export const CLIENT_CHANGE_TIMINGS: Omit<ClientChangeTimings, "connectTimeoutMs"> = { maxAgeMs: 1000, retryMs: 1000 };

const MAX_RETRY_MS = 30_000;

/**
 * The view of the clients table for a PostgreSQL process (see ViewMemo), so that authentication
 * need not read the client's row on every request. One connection of its own LISTENs on
 * CLIENTS_CHANNEL; the view changes with every announcement heard, with this process's own
 * changes, every `maxAgeMs`, and whenever that connection is made or lost. While it is not
 * listening there is no view, and every authentication reads the row.
 *
 * The connection is opened by the first request for the view, so a process that never
 * authenticates (the CLI) never opens it.
 */
export class PostgresClientChanges {
  private generation = 0;
  private listening = false;
  /** A loss was reported and listening has not resumed since. */
  private lossReported = false;
  private started = false;
  private closed = false;
  private listener: pg.Client | undefined;
  private retryMs: number;
  private ageTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  /**
   * `onLost` hears of a listening connection that broke, once for each time it does (not for each
   * attempt to listen again that fails), so that a process reading every client afresh says why;
   * `onListening` hears once that it listens again after such a loss.
   */
  constructor(
    private readonly url: string,
    private readonly db: Kysely<Database>,
    private readonly timings: ClientChangeTimings,
    private readonly onLost: (error: Error) => void = () => {},
    private readonly onListening: (message: string) => void = () => {},
  ) {
    this.retryMs = timings.retryMs;
  }

  readonly view: ReadView = () => {
    if (!this.started) this.start();
    return this.listening ? this.generation : undefined;
  };

  /** After this process committed a change to a client: forgets here at once, and tells the others. */
  async announce(): Promise<void> {
    this.generation++;
    try {
      await sql`select pg_notify(${CLIENTS_CHANNEL}, '')`.execute(this.db);
    } catch {
      // The others then read the change once their memo is maxAgeMs old.
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    clearInterval(this.ageTimer);
    clearTimeout(this.retryTimer);
    const client = this.listener;
    this.listener = undefined;
    // A connection whose path went silent would never finish ending.
    if (client) await endWithin(client, this.timings.connectTimeoutMs);
  }

  private start(): void {
    this.started = true;
    this.ageTimer = setInterval(() => this.generation++, this.timings.maxAgeMs).unref();
    void this.listen();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.timings.connectTimeoutMs,
      keepAlive: true,
    });
    this.listener = client;
    client.on("notification", () => this.generation++);
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("the connection ended")));
    try {
      await client.connect();
      await client.query(`listen ${CLIENTS_CHANNEL}`);
    } catch {
      this.lost(client);
      return;
    }
    if (this.listener !== client) return;
    this.retryMs = this.timings.retryMs;
    // Whatever changed before LISTEN took effect was never announced to this connection.
    this.generation++;
    this.listening = true;
    if (this.lossReported) {
      this.lossReported = false;
      this.onListening("listening for client changes again; remembered clients serve authentication again");
    }
  }

  private lost(client: pg.Client, error?: Error): void {
    if (this.listener !== client) return;
    if (this.listening && error) {
      this.lossReported = true;
      this.onLost(
        new Error(
          `the connection listening for client changes was lost (${error.message}); clients are read on every request until it listens again`,
        ),
      );
    }
    this.listener = undefined;
    this.listening = false;
    this.generation++;
    client.end().catch(() => {});
    if (this.closed) return;
    this.retryTimer = setTimeout(() => void this.listen(), this.retryMs).unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }
}
