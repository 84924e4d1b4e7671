/** Per process: with `--workers N` every worker has a pool of its own. */
export interface PoolSettings {
  size: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /** Send queries as named prepared statements (see PreparingPool); off for a proxy that cannot keep them. */
  preparedStatements: boolean;
}

export const DEFAULT_POOL_SETTINGS: PoolSettings = {
  size: 10,
  statementTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  preparedStatements: true,
};
