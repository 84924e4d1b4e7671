import { createConnection, createServer, type Server, type Socket } from "node:net";

/** A TCP forwarder that can be cut (listener closed, every connection dropped) and restored on the same port. */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

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
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  /** Refuses new connections and breaks every open one, as a database going down would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
