/** A mutex that hands itself to waiters in arrival order and wakes only the next one. */
export class FifoLock {
  private held = false;
  private readonly waiters: Array<() => void> = [];
  private head = 0;

  /** Takes the lock if it is free, without waiting; the caller must then release it. */
  tryAcquire(): boolean {
    if (this.held) return false;
    this.held = true;
    return true;
  }

  acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    if (this.head < this.waiters.length) {
      const next = this.waiters[this.head] as () => void;
      this.waiters[this.head++] = noop;
      if (this.head === this.waiters.length) {
        this.waiters.length = 0;
        this.head = 0;
      }
      next();
      return;
    }
    this.held = false;
  }
}

const noop = () => {};
