/** Per process: with `--workers N` every worker has a pool of its own. */
export interface PoolSettings {
  size: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /**
   * How long a connection may sit unused in the pool before it is closed; 0 keeps it open. The pool
   * hands out the connection released last, so under a light load most of it idles; closing those
   * after a few seconds means opening them again (and preparing their statements again) at the next burst.
   */
  idleTimeoutMs: number;
  /** Send queries as named prepared statements (see PreparingPool); off for a proxy that cannot keep them. */
  preparedStatements: boolean;
}

export const DEFAULT_POOL_SETTINGS: PoolSettings = {
  size: 10,
  statementTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 300_000,
  preparedStatements: true,
};
