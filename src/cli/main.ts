import cluster from "node:cluster";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { inspect, parseArgs } from "node:util";
import {
  type Config,
  ConfigError,
  loadConfig,
  MAX_WORKERS,
  parseDatabaseUrl,
  secretFile,
  wholeNumber,
} from "../config.js";
import { openRuntime } from "../runtime.js";
import { startServer } from "../server.js";
import { isPostgresUrl } from "../store/engine.js";
import { BACKUP_NEEDS_FILE, runBackupCommand } from "./backup.js";
import { checkClientsArguments, runClientsCommand } from "./clients.js";
import { runCluster } from "./cluster.js";
import { runKeysCommand } from "./keys.js";
import { runPruneCommand } from "./prune.js";
import { USAGE, UsageError } from "./usage.js";
import { checkUsersArguments, runUsersCommand } from "./users.js";

const OPTIONS = {
  name: { type: "string" },
  "redirect-uri": { type: "string", multiple: true },
  scope: { type: "string" },
  email: { type: "string" },
  client: { type: "string" },
  password: { type: "string" },
  "display-name": { type: "string" },
  json: { type: "boolean" },
  workers: { type: "string" },
  "previous-valid-for": { type: "string" },
  webhooks: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

async function serve(config: Config): Promise<number> {
  const server = await startServer(config);
  const failed = server.stoppedOnFailure.then(() => 1);
  const signalled = new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        server.app.log.info(`${signal} received: still finishing in-flight requests`);
        return;
      }
      stopping = true;
      server.app.log.info(`${signal} received: finishing in-flight requests`);
      server.stop().then(
        () => resolve(0),
        (error) => {
          server.app.log.error({ err: error }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
  });
  return Promise.race([signalled, failed]);
}

/** A SQLite database file that is not there: opening it would make a new, empty one. */
const isMissingSqliteFile = (url: string) => !isPostgresUrl(url) && url !== ":memory:" && !existsSync(url);

/**
 * A command run against a SQLite file that is not there makes a new, empty database: said on
 * stderr, as a mistyped DATABASE_URL would otherwise leave a client or user where no server looks.
 */
function newDatabaseNotice(config: Config): string | undefined {
  const { databaseUrl } = config;
  if (!isMissingSqliteFile(databaseUrl)) return undefined;
  const secret = config.secretSource === "generated" ? `, with a new server secret in ${secretFile(databaseUrl)}` : "";
  return `keyward: no database was at ${resolve(databaseUrl)}: made a new, empty one${secret} (DATABASE_URL says where)\n`;
}

/**
 * The options each command takes, as the usage text lists them (`--help` aside). Any other is
 * refused rather than ignored: `users delete --email E --client C` must not delete the user when
 * disconnecting one client was meant.
 */
const OPTIONS_OF: Record<string, readonly (keyof typeof OPTIONS)[]> = {
  start: ["workers"],
  migrate: [],
  prune: ["json"],
  backup: ["json"],
  "clients create": ["name", "redirect-uri", "scope", "json"],
  "clients list": ["json"],
  "clients show": ["json"],
  "clients update": ["name", "redirect-uri", "scope", "json"],
  "clients delete": [],
  "clients rotate-secret": ["previous-valid-for", "json"],
  "users create": ["email", "password", "display-name", "json"],
  "users list": ["json"],
  "users show": ["email", "json"],
  "users sign-out": ["email", "json"],
  "users disconnect": ["email", "client", "json"],
  "users set-password": ["email", "password"],
  "users delete": ["email"],
  "keys rotate": ["webhooks", "json"],
};

/** Refuses an option the command does not take; an unknown subcommand is left to its command to name. */
function refuseForeignOptions(command: string, sub: string | undefined, given: string[]): void {
  const name = ["clients", "users", "keys"].includes(command) ? `${command} ${sub ?? ""}` : command;
  const allowed = OPTIONS_OF[name];
  if (allowed === undefined) return;
  const foreign = given.find((option) => option !== "help" && !allowed.includes(option as keyof typeof OPTIONS));
  if (foreign !== undefined) throw new UsageError(`--${foreign} does not apply to ${name}`);
}

const COMMANDS = ["start", "migrate", "prune", "backup", "clients", "users", "keys"];
const WITH_SUBCOMMANDS = ["clients", "users", "keys"];

/** `a, b or c` */
const either = (words: string[]) =>
  words.length > 1 ? `${words.slice(0, -1).join(", ")} or ${words.at(-1)}` : (words[0] ?? "");

/**
 * Refuses an unknown command or subcommand before the configuration is read: reading it makes
 * a SQLite database's secret file (and its directory) when there is none yet.
 */
function refuseUnknownCommand(command: string, sub: string | undefined): void {
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command: ${command}`);
  if (!WITH_SUBCOMMANDS.includes(command) || OPTIONS_OF[`${command} ${sub}`] !== undefined) return;
  const subs = Object.keys(OPTIONS_OF)
    .filter((name) => name.startsWith(`${command} `))
    .map((name) => name.slice(command.length + 1));
  throw new UsageError(`unknown ${command} command: ${sub ?? "(none)"}; expected ${either(subs)}`);
}

/** The SQLite file a backup would copy, when it is not there: refused before a secret is made beside it. */
function missingBackupSource(): string | undefined {
  const url = parseDatabaseUrl(process.env.DATABASE_URL);
  return isMissingSqliteFile(url) ? resolve(url) : undefined;
}

function workersOf(raw: string): number {
  const workers = wholeNumber(raw);
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new UsageError(`--workers must be a whole number from 1 to ${MAX_WORKERS}`);
  }
  return workers;
}

/** How many words a command takes, its own name included; a word more is a mistake, not something to ignore. */
function wordsTaken(command: string, sub: string | undefined): number {
  if (command === "clients") return ["show", "update", "delete", "rotate-secret"].includes(sub ?? "") ? 3 : 2;
  if (command === "users" || command === "keys" || command === "backup") return 2;
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true; tokens: true }>
  >;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    // Node's own text goes on to explain `--`, which no command here takes.
    const unknown =
      code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? /^Unknown option '([^']+)'/.exec(message)?.[1] : undefined;
    if (unknown) throw new UsageError(`unknown option ${unknown} (npx keyward --help lists them)`);
    throw new UsageError(message.split("\n")[0] ?? "bad arguments");
  }
  const { values, positionals, tokens } = parsed;
  // parseArgs keeps the last of an option given twice; the first would be dropped without a word.
  const given = tokens.filter((token) => token.kind === "option").map((token) => token.name);
  const twice = given.find(
    (name, i) =>
      given.indexOf(name) !== i && !(OPTIONS[name as keyof typeof OPTIONS] as { multiple?: boolean }).multiple,
  );
  if (twice !== undefined) throw new UsageError(`--${twice} given more than once`);
  const [command, sub, ...rest] = positionals;
  if (!command || command === "help" || values.help) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const extra = positionals[wordsTaken(command, sub)];
  if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`);
  refuseUnknownCommand(command, sub);
  refuseForeignOptions(command, sub, given);
  // Every refusal the arguments alone decide comes before the configuration is read (see refuseUnknownCommand).
  const workersGiven = values.workers === undefined ? undefined : workersOf(values.workers);
  if (command === "backup" && !sub) throw new UsageError(BACKUP_NEEDS_FILE);
  if (command === "clients") checkClientsArguments(sub, rest, values);
  if (command === "users") checkUsersArguments(sub, values);
  const missing = command === "backup" ? missingBackupSource() : undefined;
  if (missing) {
    process.stderr.write(`keyward: cannot open the database ${missing}: there is no such file\n`);
    return 1;
  }
  const config = loadConfig();
  if (command === "start") {
    const workers = workersGiven ?? config.workers;
    return workers > 1 && cluster.isPrimary ? runCluster(config, workers) : serve(config);
  }
  // Before the runtime: a backup reads the file as it is, without migrating it or checking its secret.
  if (command === "backup") return runBackupCommand(config, sub, values.json === true);
  const notice = newDatabaseNotice(config);
  // A command counts no requests: no rate limiter, so no Redis to wait for (or warn about).
  const runtime = await openRuntime({ ...config, redisUrl: undefined });
  if (notice) process.stderr.write(notice);
  try {
    switch (command) {
      case "migrate":
        for (const name of runtime.opened.migrationsApplied) process.stdout.write(`applied migration ${name}\n`);
        if (runtime.opened.migrationsAheadOfBuild.length > 0) {
          const ahead = runtime.opened.migrationsAheadOfBuild.join(", ");
          process.stdout.write(`database schema is ahead of this build (${ahead}); nothing to apply\n`);
        } else {
          process.stdout.write(`database schema is up to date (${runtime.opened.engine})\n`);
        }
        return 0;
      case "prune":
        return await runPruneCommand(runtime, values.json === true);
      case "clients":
        return await runClientsCommand(runtime, sub, rest, values);
      case "users":
        return await runUsersCommand(runtime, sub, values);
      default:
        return await runKeysCommand(runtime, sub, values.json === true, values.webhooks === true);
    }
  } finally {
    await runtime.close();
  }
}

/**
 * An unexpected failure as one line. SQLite names a full or failing disk only as "disk I/O error"
 * (SQLITE_IOERR, when it cannot make its shared-memory file, say): its code and the likely cause are added.
 */
function failureText(error: unknown): string {
  // A value thrown without a message (an error cloned from a worker thread loses it) is shown whole.
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown };
  const text = typeof message === "string" && message ? message : inspect(error);
  // PostgreSQL's too_many_connections: for the server, its reserved slots, a role or a database.
  if (code === "53300") {
    return `${text}: PostgreSQL refuses more connections (max_connections, or a limit on the role or database); each keyward process holds up to KEYWARD_PG_POOL_SIZE, plus one that listens`;
  }
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return text;
  const diskTrouble = code.startsWith("SQLITE_IOERR") || code === "SQLITE_FULL";
  return `${text} (${code})${diskTrouble ? ": is the disk that holds the database full or failing?" : ""}`;
}

main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      if (error instanceof UsageError || error instanceof ConfigError) {
        process.stderr.write(`keyward: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      process.stderr.write(`keyward: ${failureText(error)}\n`);
      process.exitCode = 1;
    },
  )
  // A cluster worker's channel to the primary would keep the process alive.
  .finally(() => cluster.worker?.disconnect());
