/**
 * Replies that become ready during one turn of the event loop, written together once the turn's
 * I/O callbacks have all run (Node's check phase, `setImmediate`) rather than each as soon as it is
 * ready. A turn under load reads many requests; answering them back to back means most responses
 * reach a client that the first one already woke, and a write that has to wake its reader (on
 * loopback, inside the writing call) costs about as much as the rest of the request. At low load a
 * turn holds one request, and its reply goes out as soon as that turn's callbacks are done.
 */
export class ReplyBatch {
  private sends: Array<() => void> = [];
  private scheduled = false;

  /** `send` writes one reply; it must not throw, or the replies after it in the turn are lost. */
  add(send: () => void): void {
    this.sends.push(send);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    const sends = this.sends;
    this.sends = [];
    this.scheduled = false;
    for (const send of sends) send();
  };
}
