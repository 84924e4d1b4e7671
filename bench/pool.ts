/** Pre-minted single-use items, handed out once each. Once dry it keeps answering the last item. */
export class Pool<T> {
  private next = 0;
  private dryAt: number | undefined;

  constructor(private readonly items: readonly T[]) {
    if (items.length === 0) throw new Error("a pool needs at least one item");
  }

  take(): T {
    const item = this.items[this.next] ?? this.items[this.items.length - 1];
    if (this.next < this.items.length) this.next++;
    else this.dryAt ??= Date.now();
    return item as T;
  }

  get taken(): number {
    return this.next;
  }

  /** When the pool first had nothing fresh to give, or undefined while it still has. */
  get ranDryAt(): number | undefined {
    return this.dryAt;
  }
}
