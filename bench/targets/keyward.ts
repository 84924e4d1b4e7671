import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { basicAuthorization } from "../fixtures.js";
import { freePort, type ServerLaunch, type ServerProcess, startServerProcess } from "../server-process.js";
import { KeywardFixtures } from "./keyward-fixtures.js";
import { CANVA_PATHS, type Target, TargetUnavailable } from "./target.js";

/** The checkout this benchmark was built from. */
const OWN_CHECKOUT = resolve(import.meta.dirname, "../../..");

/** The environment and Node flags `npm start` gives the server, so the benchmark runs it exactly as shipped. */
function shippedLaunch(checkout: string): { env: Record<string, string>; nodeArgs: string[] } {
  const manifest = JSON.parse(readFileSync(resolve(checkout, "package.json"), "utf8"));
  // `exec` makes the shell become Node, so that signals sent to npm reach the server.
  const words = String(manifest.scripts?.start ?? "")
    .split(/\s+/)
    .filter((word) => word !== "exec");
  const env: Record<string, string> = {};
  let node = 0;
  if (words[0] === "env") {
    for (node = 1; words[node]?.includes("=") === true; node++) {
      const [name = "", ...value] = (words[node] ?? "").split("=");
      env[name] = value.join("=");
    }
  }
  const script = words.findIndex((word) => word.endsWith("main.js"));
  return { env, nodeArgs: words[node] === "node" && script > node ? words.slice(node + 1, script) : [] };
}

const shippedWords = (env: Record<string, string>) =>
  Object.entries(env)
    .map(([name, value]) => `${name}=${value} `)
    .join("");

export interface KeywardVariant {
  name: string;
  /** A PostgreSQL URL; a fresh SQLite file when absent. */
  postgresUrl?: string;
  workers?: number;
  /** Extra Node flags for the server process, such as --cpu-prof. */
  nodeArgs?: string[];
  /** A command placed before Node (see ServerLaunch). */
  wrapper?: string[];
  /**
   * Another built checkout of keyward whose server (and `npm start` flags) to run instead of this
   * one's. The fixtures are still minted by this build's store, so both must share the schema.
   */
  checkout?: string;
}

/** Whether the server runs a primary and `workers` processes within a few seconds of answering. */
async function becomesCluster(server: ServerProcess, workers: number): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (server.pids().length < workers + 1 && Date.now() < deadline) {
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return server.pids().length >= workers + 1;
}

/** Starts `keyward start --workers N` (or, where the option is unknown, KEYWARD_WORKERS=N alone). */
async function startWorkers(launch: ServerLaunch, workers: number): Promise<ServerProcess> {
  const env = { ...launch.env, KEYWARD_WORKERS: String(workers) };
  let server: ServerProcess;
  try {
    server = await startServerProcess({ ...launch, env, args: ["start", "--workers", String(workers)] });
  } catch (error) {
    if (!/unknown option '--workers'/i.test((error as Error).message)) throw error;
    server = await startServerProcess({ ...launch, env, args: ["start"] });
  }
  if (await becomesCluster(server, workers)) return server;
  const seen = server.pids().length;
  await server.stop();
  throw new TargetUnavailable(
    `asked for ${workers} workers, keyward ran ${seen} process${seen === 1 ? "" : "es"}: several workers are not supported yet`,
  );
}

/** keyward as shipped (`keyward start`), on a database of its own that the benchmark fills. */
export async function startKeyward(variant: KeywardVariant): Promise<Target> {
  const port = await freePort();
  const fixtures = await KeywardFixtures.open(variant.postgresUrl, `http://127.0.0.1:${port}`);
  const checkout = variant.checkout ?? OWN_CHECKOUT;
  const shipped = shippedLaunch(checkout);
  const nodeArgs = [...shipped.nodeArgs, ...(variant.nodeArgs ?? [])];
  const launch: ServerLaunch = {
    script: resolve(checkout, "dist/src/cli/main.js"),
    nodeArgs,
    args: ["start"],
    env: { ...shipped.env, ...fixtures.env },
    port,
    wrapper: variant.wrapper,
  };
  let server: ServerProcess;
  try {
    server = variant.workers ? await startWorkers(launch, variant.workers) : await startServerProcess(launch);
  } catch (error) {
    await fixtures.close();
    throw error;
  }
  const engine = variant.postgresUrl
    ? "PostgreSQL (its server shares the machine)"
    : "SQLite (WAL, synchronous=NORMAL, commits synced to disk (fdatasync) in groups before any response)";
  const processes = server.pids().length;
  return {
    name: variant.name,
    server,
    paths: CANVA_PATHS,
    authorization: basicAuthorization(fixtures.client.id, fixtures.clientSecret),
    notes: [
      `keyward start on ${engine}, ${processes} process${processes === 1 ? "" : "es"}, ${shippedWords(shipped.env)}node ${nodeArgs.join(" ") || "(no flags)"}`,
      "rate limits raised out of reach (the limiter still runs): shipped limits answer 429 after 1200 requests a minute",
    ],
    mintCodes: (count) => fixtures.mintCodes(count),
    mintRefreshTokens: (count) => fixtures.mintRefreshTokens(count),
    mintAccessToken: () => fixtures.mintAccessToken(),
    async stop() {
      await server.stop();
      await fixtures.close();
    },
  };
}
