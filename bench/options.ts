import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { OperationName } from "./operations.js";

export type ServerFamily = "keyward" | "oidc" | "floor";

export interface BenchOptions {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  /** How many times every server measures every operation; the table gives the medians. */
  rounds: number;
  /** Which servers to run; all when undefined. */
  only: Set<ServerFamily> | undefined;
  /** Which operations to measure; all when undefined. */
  operations: Set<OperationName> | undefined;
  postgresUrl: string | undefined;
  workers: number | undefined;
  /** Where keyward writes V8 CPU profiles (--cpu-prof), when set. */
  profileDir: string | undefined;
  output: string;
}

export const USAGE = `Usage: npm run bench -- [options]

  --duration SECONDS     measured run per operation and server (default 10)
  --warmup SECONDS       warm-up before each measured run (default 3)
  --connections N        concurrent connections (default 50)
  --rounds N             measure everything N times, the servers of each operation one after
                         another in every round; the table gives medians and each round's ratios
                         (default 1)
  --only NAME            keyward, oidc or floor; repeat or separate with commas
  --operation NAME       exchange, refresh, introspect or revoke; repeat or separate with commas
  --pg URL               also run keyward on PostgreSQL, each run in a new schema of that
                         database, dropped after it (or set KEYWARD_BENCH_PG_URL)
  --workers N            also run keyward with N workers
  --profile DIR          write keyward's CPU profiles to DIR
  --output FILE          results JSON (default bench/results/latest.json)`;

export const FAMILIES: readonly ServerFamily[] = ["keyward", "oidc", "floor"];
export const OPERATION_NAMES: readonly OperationName[] = ["exchange", "refresh", "introspect", "revoke"];

function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

/** The names given to a repeatable option (comma-separated or repeated), each checked against `allowed`. */
export function choice<T extends string>(option: string, allowed: readonly T[], values: string[] | undefined) {
  if (!values) return undefined;
  const names = values.flatMap((value) => value.split(",")).map((name) => name.trim());
  const unknown = names.filter((name) => !allowed.includes(name as T));
  if (unknown.length > 0) throw new Error(`--${option} takes ${allowed.join(", ")}; not ${unknown.join(", ")}`);
  return new Set(names as T[]);
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      rounds: { type: "string" },
      only: { type: "string", multiple: true },
      operation: { type: "string", multiple: true },
      pg: { type: "string" },
      workers: { type: "string" },
      profile: { type: "string" },
      output: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  const workers = values.workers === undefined ? undefined : positiveNumber("workers", values.workers, 1);
  if (workers !== undefined && !Number.isInteger(workers)) throw new Error("--workers must be a whole number");
  const rounds = positiveNumber("rounds", values.rounds, 1);
  if (!Number.isInteger(rounds)) throw new Error("--rounds must be a whole number");
  return {
    seconds: positiveNumber("duration", values.duration, 10),
    warmupSeconds: positiveNumber("warmup", values.warmup, 3),
    connections: Math.round(positiveNumber("connections", values.connections, 50)),
    rounds,
    only: choice("only", FAMILIES, values.only),
    operations: choice("operation", OPERATION_NAMES, values.operation),
    postgresUrl: values.pg ?? (env.KEYWARD_BENCH_PG_URL || undefined),
    workers,
    profileDir: values.profile === undefined ? undefined : resolve(values.profile),
    output: resolve(values.output ?? resolve(import.meta.dirname, "../../bench/results/latest.json")),
  };
}
