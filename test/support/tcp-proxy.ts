import { createConnection, createServer, type Server, type Socket } from "node:net";

/** A TCP forwarder that can be cut (listener closed, every connection dropped) and restored on the same port. */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private loseAnswerTo: string | undefined;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    readonly port: number,
  ) {}

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  async open(): Promise<void> {
    const server = createServer((downstream) => {
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      this.track(downstream);
      this.track(upstream);
      const drop = () => {
        downstream.destroy();
        upstream.destroy();
      };
      downstream.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      downstream.pipe(upstream);
      upstream.pipe(downstream);
      downstream.on("data", (chunk: Buffer) => {
        const marker = this.loseAnswerTo;
        if (marker === undefined || !chunk.includes(marker)) return;
        this.loseAnswerTo = undefined;
        // The request goes on (the pipe writes it); its answer never comes back, and then the connection breaks.
        upstream.unpipe(downstream);
        upstream.pause();
        setTimeout(drop, 500);
      });
      const pair: [Socket, Socket] = [downstream, upstream];
      this.pairs.add(pair);
      downstream.once("close", () => this.pairs.delete(pair));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  /**
   * Stops passing data on every connection open now, leaving them open and new ones working: what
   * a NAT or load balancer that silently dropped them looks like from either end.
   */
  freeze(): void {
    for (const [downstream, upstream] of this.pairs) {
      downstream.unpipe(upstream);
      upstream.unpipe(downstream);
      downstream.pause();
      upstream.pause();
    }
    this.pairs.clear();
  }

  /** The next request holding `marker` reaches the server, but its answer is lost and its connection breaks. */
  loseAnswerToNext(marker: string): void {
    this.loseAnswerTo = marker;
  }

  /** Refuses new connections and breaks every open one, as a database going down would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
