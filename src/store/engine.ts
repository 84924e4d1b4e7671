/** Whether a DATABASE_URL names PostgreSQL (`postgres://`, `postgresql://`); anything else names a SQLite file. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}
