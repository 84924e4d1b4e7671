/**
 * The view a connection reads of the data a memo holds: a number that changes whenever what its
 * reads of that data see may change (on SQLite, a read or write transaction begins or ends, or one
 * of its rows is written: see BetterSqliteDriver.tableView; on PostgreSQL, a change is announced:
 * see PostgresClientChanges). Undefined where it cannot be told, and nothing is remembered then.
 */
export type ReadView = () => number | undefined;

/** More keys than this in one view are read again rather than remembered. */
const MAX_ENTRIES = 1000;

/**
 * Values read from the database, remembered for as long as the view they were read in lasts.
 * A server with many requests in flight authenticates the same client over and over within one
 * view (SQLite shares one read transaction per event-loop turn); those reads all return the
 * same row, so one of them is enough. The remembered values are shared: callers must not change them.
 */
export class ViewMemo<V> {
  private view: number | undefined;
  private readonly values = new Map<string, V>();

  constructor(private readonly currentView: ReadView = () => undefined) {}

  async read(key: string, load: () => Promise<V>): Promise<V> {
    const before = this.currentView();
    if (before !== undefined && before === this.view) {
      // One lookup for a remembered value; `has` only tells a remembered undefined from a miss.
      const remembered = this.values.get(key);
      if (remembered !== undefined || this.values.has(key)) return remembered as V;
    }
    const value = await load();
    // Only a value read without the view changing meanwhile (no other request's write or commit
    // while this read waited for the connection) belongs to the view.
    if (before !== undefined && this.currentView() === before) {
      if (this.view !== before) {
        this.values.clear();
        this.view = before;
      }
      if (this.values.size < MAX_ENTRIES) this.values.set(key, value);
    }
    return value;
  }
}
