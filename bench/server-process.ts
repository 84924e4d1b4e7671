import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { freePort } from "../test/support/server-process.js";

export { freePort };

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** The server process and every process it started. */
  pids(): number[];
  /** Why the process is gone, or undefined while it runs. */
  exitReason(): string | undefined;
  output(): string;
  stop(): Promise<void>;
}

export interface ServerLaunch {
  script: string;
  nodeArgs?: string[];
  args?: string[];
  env: Record<string, string>;
  port: number;
  ipc?: boolean;
  /** A command that runs Node, placed before it (such as valgrind and its options). */
  wrapper?: string[];
}

function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

export function processTree(pid: number): number[] {
  return [pid, ...childrenOf(pid).flatMap(processTree)];
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const probe = request(url, { method: "GET", timeout: 1000 }, (response) => {
      response.resume();
      resolveAnswer(true);
    });
    probe.on("error", () => resolveAnswer(false));
    probe.on("timeout", () => probe.destroy());
    probe.end();
  });
}

const lastLines = (text: string) => text.trim().split("\n").slice(-15).join("\n");

/** Starts a Node server in its own process and waits until it answers HTTP on `port`. */
export async function startServerProcess(launch: ServerLaunch): Promise<ServerProcess> {
  const url = `http://127.0.0.1:${launch.port}`;
  const node = [process.execPath, ...(launch.nodeArgs ?? []), launch.script, ...(launch.args ?? [])];
  const [command = process.execPath, ...args] = [...(launch.wrapper ?? []), ...node];
  const child = spawn(command, args, {
    env: { ...process.env, ...launch.env, PORT: String(launch.port) },
    stdio: launch.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolveExit) =>
    child.once("exit", (code, signal) => {
      exitReason = `exited with ${signal ?? `code ${code}`}\n${lastLines(output)}`;
      resolveExit();
    }),
  );
  const deadline = Date.now() + 30_000;
  while (!(await answers(`${url}/`))) {
    if (exitReason !== undefined) throw new Error(`server ${exitReason}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not answer within 30 s\n${lastLines(output)}`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  const pid = child.pid ?? 0;
  return {
    url,
    child,
    pids: () => (exitReason === undefined ? processTree(pid) : []),
    exitReason: () => exitReason,
    output: () => output,
    async stop() {
      if (exitReason !== undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
