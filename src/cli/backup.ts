import { dirname, join, resolve } from "node:path";
import type { Config } from "../config.js";
import { constantTimeEqual, ServerKeys } from "../core/crypto.js";
import { isPostgresUrl } from "../store/engine.js";
import { BackupError, backupSqlite } from "../store/sqlite-backup.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

/** Where the copy's secret lives: without it, a server on the copy refuses to start. */
function secretOf(config: Config): string {
  if (config.secretSource === "environment") return "KEYWARD_SECRET, as set for this command";
  return join(dirname(resolve(config.databaseUrl)), "keyward.secret");
}

export const BACKUP_NEEDS_FILE = "backup needs the file to write, e.g. keyward backup ./keyward-backup.db";

/** `keyward backup FILE`: a consistent copy of the embedded database, taken while servers run. */
export function runBackupCommand(config: Config, target: string | undefined, json: boolean): number {
  if (!target) throw new UsageError(BACKUP_NEEDS_FILE);
  if (isPostgresUrl(config.databaseUrl)) {
    throw new UsageError("backup copies the embedded SQLite database; for PostgreSQL use pg_dump");
  }
  if (config.databaseUrl === ":memory:") throw new UsageError("an in-memory database has nothing to back up");
  try {
    const copy = backupSqlite(config.databaseUrl, target);
    const mine = new ServerKeys(config.secret).secretCheck();
    if (copy.secretCheck !== undefined && !constantTimeEqual(copy.secretCheck, mine)) {
      process.stderr.write(
        `keyward: the copy is at ${copy.path}, but the database was made with another secret than this command's: ` +
          "a server on the copy needs the secret the servers use\n",
      );
      return 1;
    }
    print(json, { backup: copy.path, bytes: copy.bytes, integrity: "ok", secret: secretOf(config) });
    return 0;
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    process.stderr.write(`keyward: ${error.message}\n`);
    return 1;
  }
}
