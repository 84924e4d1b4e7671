import { closeSync, fsyncSync, openSync } from "node:fs";

/** Fsyncs a file or a directory, so that what was written there (or its name, for a directory) survives a power loss. */
export function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
