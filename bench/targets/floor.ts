import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { basicAuthorization } from "../fixtures.js";
import { freePort, type ServerLaunch, startServerProcess } from "../server-process.js";
import { CANVA_PATHS, type Target } from "./target.js";

const SCRIPT = resolve(import.meta.dirname, "../servers/floor.js");
const token = () => randomBytes(32).toString("base64url");

/** The bare Fastify floor. It keeps no state, so its "codes" and "tokens" are random strings of the same size. */
export async function startFloor(launch: Pick<ServerLaunch, "wrapper"> = {}): Promise<Target> {
  const server = await startServerProcess({ script: SCRIPT, env: {}, port: await freePort(), ...launch });
  return {
    name: "floor",
    server,
    paths: CANVA_PATHS,
    authorization: basicAuthorization("OC-floorclient", `cnvca${token()}`),
    notes: [
      "bare Fastify: parses the form body, answers a small constant JSON object",
      "the load generator shares the machine's cores, so this figure is what Node's HTTP stack does beside it",
    ],
    mintCodes: async (count) => Array.from({ length: count }, () => ({ code: token(), verifier: token() })),
    mintRefreshTokens: async (count) => Array.from({ length: count }, token),
    mintAccessToken: async () => token(),
    stop: () => server.stop(),
  };
}
