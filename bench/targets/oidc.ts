import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { basicAuthorization, type CodeFixture } from "../fixtures.js";
import { freePort, type ServerLaunch, type ServerProcess, startServerProcess } from "../server-process.js";
import type { MintRequest } from "../servers/oidc-peer.js";
import type { Target } from "./target.js";

const SCRIPT = resolve(import.meta.dirname, "../servers/oidc-peer.js");

/** Asks the peer process to mint through its models; answers arrive over IPC. */
function minter(server: ServerProcess) {
  let nextId = 0;
  const waiting = new Map<number, (values: unknown[]) => void>();
  server.child.on("message", (message: { id: number; values: unknown[] }) => {
    waiting.get(message.id)?.(message.values);
    waiting.delete(message.id);
  });
  return <T>(kind: MintRequest["kind"], count: number): Promise<T[]> =>
    new Promise((resolveValues, reject) => {
      const request: MintRequest = { id: nextId++, kind, count };
      waiting.set(request.id, (values) => resolveValues(values as T[]));
      server.child.send(request, (error) => error && reject(error));
    });
}

export async function startOidcProvider(launch: Pick<ServerLaunch, "wrapper"> = {}): Promise<Target> {
  const clientId = "bench-client";
  const clientSecret = randomBytes(32).toString("base64url");
  const server = await startServerProcess({
    script: SCRIPT,
    env: { NODE_ENV: "production", BENCH_CLIENT_ID: clientId, BENCH_CLIENT_SECRET: clientSecret },
    port: await freePort(),
    ipc: true,
    ...launch,
  });
  const mint = minter(server);
  return {
    name: "oidc-provider",
    server,
    paths: { token: "/token", introspect: "/token/introspection", revoke: "/token/revocation" },
    authorization: basicAuthorization(clientId, clientSecret),
    notes: [
      "in-memory adapter; its store holds the pre-minted codes and tokens, which count in its RSS",
      "introspects an opaque access token: oidc-provider refuses to introspect JWT access tokens",
    ],
    mintCodes: (count) => mint<CodeFixture>("codes", count),
    mintRefreshTokens: (count) => mint<string>("refresh", count),
    mintAccessToken: async () => (await mint<string>("access", 1))[0] ?? "",
    stop: () => server.stop(),
  };
}
