/**
 * `node dist/bench/checks/instructions.js [--requests N] [--warmup N] [--operation NAME] [--only NAME]
 * [--keyward-import FILE]`: user-space instructions per request, counted by valgrind's callgrind,
 * for keyward (as shipped), oidc-provider and the floor. Each server runs under callgrind with
 * counting off; after N warm-up requests (so the JIT has compiled the hot code), counting is
 * switched on for N more, from 10 connections. Unlike requests per second, the counts do not drift with what else the machine is
 * doing, so they can compare two builds run hours apart. They leave out the kernel (network, disk,
 * fsync) and waiting, and a group commit gathers more requests under callgrind than at full speed.
 * Each count also names its part spent in V8's concurrent optimizing compiler, which under
 * callgrind's slowdown is still compiling code that a server at full speed compiles in its warm-up.
 * `--keyward-import` loads a module into keyward's process first (as revocation-ceiling.ts does, say
 * `dist/bench/checks/skip-revocation-writes.js`), to count a changed server. `--keep DIR` keeps
 * callgrind's dumps in DIR and runs keyward with `--perf-basic-prof`, whose map of JIT code
 * (copied beside the dumps) lets `callgrind-functions.js` name the functions that V8 compiled.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { compilerInstructions } from "../callgrind-dumps.js";
import { drive } from "../load.js";
import { OPERATIONS, type Operation } from "../operations.js";
import { choice, FAMILIES, OPERATION_NAMES, type ServerFamily } from "../options.js";
import { startFloor } from "../targets/floor.js";
import { startKeyward } from "../targets/keyward.js";
import { startOidcProvider } from "../targets/oidc.js";
import type { Target } from "../targets/target.js";

const CONNECTIONS = 10;

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    warmup: { type: "string", default: "8000" },
    operation: { type: "string", multiple: true },
    only: { type: "string", multiple: true },
    "keyward-import": { type: "string" },
    keep: { type: "string" },
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const operations = choice("operation", OPERATION_NAMES, values.operation) ?? new Set(OPERATION_NAMES);
const only = choice("only", FAMILIES, values.only) ?? new Set(FAMILIES);
if (!Number.isInteger(requests) || requests <= 0 || !Number.isInteger(warmup) || warmup < 0) {
  throw new Error("--requests and --warmup take whole numbers");
}
const imported = values["keyward-import"];
const keywardImport = imported === undefined ? [] : [`--import=${pathToFileURL(resolve(imported)).href}`];
const keep = values.keep === undefined ? undefined : resolve(values.keep);
if (keep !== undefined) keywardImport.push("--perf-basic-prof");
try {
  execFileSync("valgrind", ["--version"], { stdio: "ignore" });
} catch {
  throw new Error("this check runs the servers under valgrind, which is not installed here");
}

/**
 * Instructions in the dumps callgrind wrote for process `pid`: all threads, the main thread, and
 * V8's concurrent optimizing compiler on the other threads.
 */
function countedInstructions(directory: string, pid: number): { all: number; main: number; compiler: number } {
  let all = 0;
  let main = 0;
  let compiler = 0;
  for (const file of readdirSync(directory).filter((name) => name.startsWith(`cg.${pid}.1-`))) {
    const text = readFileSync(join(directory, file), "utf8");
    const count = Number(/^summary: (\d+)$/m.exec(text)?.[1] ?? 0);
    all += count;
    if (file.endsWith("-01")) main = count;
    else compiler += compilerInstructions(text);
  }
  return { all, main, compiler };
}

/** Copies the dumps of process `pid`, and V8's map of its JIT code when there is one, into `--keep`'s directory. */
function keepDumps(directory: string, pid: number, label: string): void {
  if (keep === undefined) return;
  const into = join(keep, label);
  mkdirSync(into, { recursive: true });
  for (const file of readdirSync(directory).filter((name) => name.startsWith(`cg.${pid}.`))) {
    copyFileSync(join(directory, file), join(into, file));
  }
  const map = `/tmp/perf-${pid}.map`;
  if (!existsSync(map)) return;
  copyFileSync(map, join(into, `perf-${pid}.map`));
  rmSync(map);
}

async function measure(
  start: (wrapper: string[]) => Promise<Target>,
  operation: Operation,
  label: string,
): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), "keyward-callgrind-"));
  const wrapper = [
    "valgrind",
    "--tool=callgrind",
    "--instr-atstart=no",
    "--separate-threads=yes",
    `--callgrind-out-file=${join(directory, "cg.%p")}`,
  ];
  const target = await start(wrapper);
  try {
    const pid = target.server.child.pid ?? 0;
    const size = operation.consumesPerRequest ? warmup + requests + CONNECTIONS * 4 : CONNECTIONS * 3;
    const workload = await operation.prepare(target, size);
    if (warmup > 0) await drive(target, workload, 0, CONNECTIONS, warmup);
    execFileSync("callgrind_control", ["--instr=on", String(pid)], { stdio: "ignore" });
    const figures = await drive(target, workload, 0, CONNECTIONS, requests);
    execFileSync("callgrind_control", ["--dump", String(pid)], { stdio: "ignore" });
    execFileSync("callgrind_control", ["--instr=off", String(pid)], { stdio: "ignore" });
    const failed = figures.non2xx + figures.invalid + figures.errors;
    if (failed > 0) return `${failed} of ${figures.requests} requests failed: ${figures.failures.join("; ")}`;
    const { all, main, compiler } = countedInstructions(directory, pid);
    keepDumps(directory, pid, label);
    const per = (count: number) => Math.round(count / figures.requests).toLocaleString("en-US");
    return `${per(all)} instructions a request (main thread ${per(main)}, V8's optimizing compiler ${per(compiler)}), ${figures.requests} requests`;
  } finally {
    await target.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

const servers: Array<[ServerFamily, string, (wrapper: string[]) => Promise<Target>]> = [
  ["keyward", "keyward", (wrapper) => startKeyward({ name: "keyward", wrapper, nodeArgs: keywardImport })],
  ["oidc", "oidc-provider", (wrapper) => startOidcProvider({ wrapper })],
  ["floor", "floor", (wrapper) => startFloor({ wrapper })],
];
for (const operation of OPERATIONS.filter((candidate) => operations.has(candidate.name))) {
  for (const [, name, start] of servers.filter(([family]) => only.has(family))) {
    process.stdout.write(
      `${operation.name.padEnd(10)} ${name.padEnd(13)} ${await measure(start, operation, `${operation.name}-${name}`)}\n`,
    );
  }
}
