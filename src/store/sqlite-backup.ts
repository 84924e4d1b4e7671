import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";
import { SECRET_CHECK_ID } from "./queries.js";

/** A backup that could not be made; the message says why, and nothing was left at the target. */
export class BackupError extends Error {}

export interface BackupResult {
  /** The copy, as an absolute path. */
  path: string;
  bytes: number;
  /** The keyed hash of the secret the database was made with (see holdsDatabaseSecret), if recorded. */
  secretCheck: string | undefined;
}

/** Fsyncs a file or a directory, so that what was written there survives a power loss. */
function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the SQLite database at `source` to `target`, a new file, while servers keep using it.
 * VACUUM INTO reads one snapshot in one read transaction: in WAL mode it neither waits for the
 * servers' writes nor holds them up, and the copy holds every commit made before it began. The
 * copy is one self-contained file (rollback journal, same page size), checked and synced before
 * this returns. It is readable by its owner only, as the secret is: users' emails and password
 * hashes travel with it.
 */
export function backupSqlite(source: string, target: string): BackupResult {
  const path = resolve(target);
  if (existsSync(path)) throw new BackupError(`${path} already exists; a backup never overwrites a file`);
  let database: SQLite.Database;
  try {
    database = new SQLite(source, { fileMustExist: true });
  } catch (error) {
    throw new BackupError(`cannot open the database ${resolve(source)}: ${(error as Error).message}`);
  }
  try {
    database.pragma("busy_timeout = 5000");
    // Created owner-only from the start (VACUUM INTO runs synchronously, so nothing else sees this umask),
    // and so is a directory made for it.
    const umask = process.umask(0o077);
    try {
      mkdirSync(dirname(path), { recursive: true });
      database.prepare("vacuum into ?").run(path);
    } finally {
      process.umask(umask);
    }
  } catch (error) {
    const message = (error as Error).message;
    // A file that appeared meanwhile is someone else's; anything else written there is a partial copy.
    if (!message.includes("already exists")) rmSync(path, { force: true });
    throw new BackupError(`cannot write ${path}: ${message}`);
  } finally {
    database.close();
  }
  const copy = new SQLite(path, { fileMustExist: true, readonly: true });
  let integrity: unknown;
  let secretCheck: string | undefined;
  try {
    integrity = copy.pragma("integrity_check", { simple: true });
    secretCheck = recordedSecretCheck(copy);
  } finally {
    copy.close();
  }
  if (integrity !== "ok") {
    rmSync(path, { force: true });
    throw new BackupError(`the copy failed its integrity check and was removed: ${String(integrity)}`);
  }
  syncPath(path);
  syncPath(dirname(path));
  return { path, bytes: statSync(path).size, secretCheck };
}

function recordedSecretCheck(database: SQLite.Database): string | undefined {
  const table = database.prepare("select 1 from sqlite_master where type = 'table' and name = 'secret_check'").get();
  if (!table) return undefined;
  const row = database.prepare("select value from secret_check where id = ?").get(SECRET_CHECK_ID) as
    | { value: string }
    | undefined;
  return row?.value;
}
