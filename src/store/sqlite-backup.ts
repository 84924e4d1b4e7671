import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";
import { syncPath } from "../sync-path.js";
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

/**
 * Copies the SQLite database at `source` to `target`, a new file, while servers keep using it.
 * VACUUM INTO reads one snapshot in one read transaction: in WAL mode it neither waits for the
 * servers' writes nor holds them up, and the copy holds every commit made before it began. The
 * copy is one self-contained file (rollback journal, same page size), checked and synced before
 * this returns. It is readable by its owner only, as the secret is: users' emails and password
 * hashes travel with it. It is written under a name of its own (`.partial`) and given the target's
 * name only once whole and checked, so a process killed midway leaves no file a script could take
 * for a backup.
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
  const partial = `${path}.${randomBytes(6).toString("hex")}.partial`;
  try {
    database.pragma("busy_timeout = 5000");
    // Created owner-only from the start (VACUUM INTO runs synchronously, so nothing else sees this umask),
    // and so is a directory made for it.
    const umask = process.umask(0o077);
    try {
      mkdirSync(dirname(path), { recursive: true });
      database.prepare("vacuum into ?").run(partial);
    } finally {
      process.umask(umask);
    }
  } catch (error) {
    rmSync(partial, { force: true });
    throw new BackupError(`cannot write ${path}: ${(error as Error).message}`);
  } finally {
    database.close();
  }
  try {
    const { integrity, secretCheck } = checkCopy(partial);
    if (integrity !== "ok") {
      throw new BackupError(`the copy failed its integrity check and was removed: ${String(integrity)}`);
    }
    syncPath(partial);
    giveName(partial, path);
    rmSync(partial, { force: true });
    syncPath(dirname(path));
    return { path, bytes: statSync(path).size, secretCheck };
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * Gives the finished copy the target's name. A link, not a rename, where the file system has them:
 * it fails rather than replace a file that appeared at the target meanwhile.
 */
function giveName(partial: string, path: string): void {
  try {
    linkSync(partial, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") {
      throw new BackupError(`cannot write ${path}: ${(error as Error).message}`);
    }
    if (existsSync(path)) throw new BackupError(`${path} already exists; a backup never overwrites a file`);
    renameSync(partial, path);
  }
}

function checkCopy(path: string): { integrity: unknown; secretCheck: string | undefined } {
  const copy = new SQLite(path, { fileMustExist: true, readonly: true });
  try {
    return { integrity: copy.pragma("integrity_check", { simple: true }), secretCheck: recordedSecretCheck(copy) };
  } finally {
    copy.close();
  }
}

function recordedSecretCheck(database: SQLite.Database): string | undefined {
  const table = database.prepare("select 1 from sqlite_master where type = 'table' and name = 'secret_check'").get();
  if (!table) return undefined;
  const row = database.prepare("select value from secret_check where id = ?").get(SECRET_CHECK_ID) as
    | { value: string }
    | undefined;
  return row?.value;
}
