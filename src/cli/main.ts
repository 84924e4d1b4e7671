import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "../config.js";
import { openRuntime } from "../runtime.js";
import { startServer } from "../server.js";
import { runClientsCommand } from "./clients.js";
import { runKeysCommand } from "./keys.js";
import { USAGE, UsageError } from "./usage.js";
import { runUsersCommand } from "./users.js";

const OPTIONS = {
  name: { type: "string" },
  "redirect-uri": { type: "string", multiple: true },
  scope: { type: "string" },
  email: { type: "string" },
  password: { type: "string" },
  "display-name": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

async function serve(config: Config): Promise<number> {
  const server = await startServer(config);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      server.app.log.info(`${signal} received: finishing in-flight requests`);
      server.stop().then(resolve, (error) => {
        server.app.log.error({ err: error }, "shutdown failed");
        resolve();
      });
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0] ?? "bad arguments");
  }
  const { values, positionals } = parsed;
  const [command, sub, ...rest] = positionals;
  if (!command || command === "help" || values.help) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfig();
  if (command === "start") return serve(config);
  if (!["migrate", "clients", "users", "keys"].includes(command)) throw new UsageError(`unknown command: ${command}`);
  const runtime = await openRuntime(config);
  try {
    switch (command) {
      case "migrate":
        process.stdout.write(`database schema is up to date (${runtime.opened.engine})\n`);
        return 0;
      case "clients":
        return await runClientsCommand(runtime, sub, rest, values);
      case "users":
        return await runUsersCommand(runtime, sub, values);
      default:
        return await runKeysCommand(runtime, sub, values.json === true);
    }
  } finally {
    await runtime.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`keyward: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`keyward: ${(error as Error).message ?? error}\n`);
    process.exitCode = 1;
  },
);
