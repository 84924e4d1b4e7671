import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const CLI = resolve(import.meta.dirname, "../../src/cli/main.js");

/**
 * The first port of the range the kernel hands out to `listen(0)` and to outgoing connections, from every
 * process. A port taken from it and freed again can be handed to another test file before the
 * server started here binds it. Below it, a port is only taken by a process that names it.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // Not Linux: assume the IANA dynamic range.
  }
  return 49152;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}

/** A port that is free now, drawn from below the ephemeral range (see `ephemeralLow`). */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  const first = Math.max(1024, low - 16_000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = first + Math.floor(Math.random() * (low - first));
    if (await canListen(port)) return port;
  }
  throw new Error("no free port below the ephemeral range");
}

export function tempDatabase(): string {
  return join(mkdtempSync(join(tmpdir(), "keyward-test-")), "keyward.db");
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `keyward <args>` to completion with the given environment. */
export function runCli(args: string[], env: Record<string, string>): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `keyward start` as a real process and waits until it listens. On a port this helper chose,
 * a bind that loses a race to another process is retried on a fresh port.
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  if (env.PORT) return launch(env, Number(env.PORT));
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(env, await freePort());
    } catch (error) {
      if (attempt === 3 || !(error instanceof PortTaken)) throw error;
    }
  }
}

class PortTaken extends Error {}

async function launch(env: Record<string, string>, port: number): Promise<ServerProcess> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [CLI, "start"], {
    env: { ...process.env, KEYWARD_ISSUER: url, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  // Ready when /healthz answers; the log level is the caller's choice, so the log is not relied on.
  const deadline = Date.now() + 30_000;
  let exitedEarly = false;
  child.once("exit", () => {
    exitedEarly = true;
  });
  for (;;) {
    if (exitedEarly) {
      const Failure = output.includes("EADDRINUSE") ? PortTaken : Error;
      throw new Failure(`server exited before listening:\n${output}`);
    }
    if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    }
  }
  return {
    url,
    child,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
