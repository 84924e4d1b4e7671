import { statSync } from "node:fs";

/** The length on disk of the WAL beside a SQLite database file; 0 when there is none. */
export function walFileBytes(databasePath: string): number {
  try {
    return statSync(`${databasePath}-wal`).size;
  } catch {
    return 0;
  }
}
