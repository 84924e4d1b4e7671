/** Per process: with `--workers N` every worker has a pool of its own. */
export interface PoolSettings {
  size: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_POOL_SETTINGS: PoolSettings = { size: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 5_000 };
