import { closeSync, existsSync, fdatasync, openSync } from "node:fs";

/**
 * fdatasync writes the file's data and the metadata needed to read it back (its size), which is
 * what durability of the WAL asks for; unlike fsync it skips a journal commit for the timestamps
 * that every overwrite of a reused WAL changes.
 */
export function syncToDisk(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * A disk sync of the WAL failed. On Linux a failed sync may leave the written pages marked clean,
 * so a later sync can succeed without them ever reaching the disk; and SQLite's recovery stops at
 * the first frame it cannot read back, so every commit after the lost ones would be lost with
 * them. Nothing is acknowledged from then on: the process has to stop, and a restart recovers from
 * what the disk holds.
 */
export class DurabilityLostError extends Error {
  constructor(cause: unknown) {
    super("a disk sync of the SQLite WAL failed; nothing written since can be acknowledged", { cause });
    this.name = "DurabilityLostError";
  }
}

/**
 * Group commit for SQLite. With `synchronous = NORMAL` a commit reaches the WAL file without
 * waiting for the disk, which already survives a crash of the process. `flush` then makes it
 * survive a crash of the machine too: one fdatasync of the WAL, run off the main thread, covers every
 * commit made before it started, so concurrent requests share one disk sync instead of each
 * paying for its own.
 */
export class WalSync {
  private written = 0;
  private synced = 0;
  private running: Promise<void> | undefined;
  private fd: number | undefined;
  private failure: DurabilityLostError | undefined;

  constructor(
    private readonly walPath: string,
    private readonly syncFile: (fd: number) => Promise<void> = syncToDisk,
    /** Called once, when the first sync fails. */
    private readonly onLost: (error: DurabilityLostError) => void = () => {},
  ) {}

  /** Set once a sync has failed; every flush after that rejects with it, and no sync is tried again. */
  get lost(): DurabilityLostError | undefined {
    return this.failure;
  }

  /** Call after every statement that may have written. */
  noteWrite(): void {
    this.written++;
  }

  /** True for good once a sync has failed: flush then rejects, whatever was written. */
  get hasUnsyncedWrites(): boolean {
    return this.failure !== undefined || this.synced < this.written;
  }

  /** Resolves once every write noted so far is on stable storage. */
  async flush(): Promise<void> {
    const target = this.written;
    if (this.failure) throw this.failure;
    while (this.synced < target) {
      this.running ??= this.syncOnce().finally(() => {
        this.running = undefined;
      });
      await this.running;
    }
  }

  private async syncOnce(): Promise<void> {
    const covered = this.written;
    if (this.fd === undefined) {
      if (!existsSync(this.walPath)) {
        this.synced = covered;
        return;
      }
      this.fd = openSync(this.walPath, "r");
    }
    try {
      await this.syncFile(this.fd);
    } catch (error) {
      this.failure ??= new DurabilityLostError(error);
      this.onLost(this.failure);
      throw this.failure;
    }
    this.synced = Math.max(this.synced, covered);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
