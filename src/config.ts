import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { randomToken } from "./core/crypto.js";

/**
 * Every setting keyward reads, from the environment. Durations are in seconds.
 *
 * | variable                       | default                  | meaning |
 * |--------------------------------|--------------------------|---------|
 * | PORT                           | 8080                     | port to listen on |
 * | HOST                           | 127.0.0.1                | address to listen on |
 * | DATABASE_URL                   | ./data/keyward.db        | `postgres://...` for PostgreSQL, anything else is a SQLite file path |
 * | KEYWARD_ISSUER                 | http://localhost:<PORT>  | public base URL, the `iss` of every token |
 * | KEYWARD_SECRET                 | generated, see below     | server secret (32+ chars): keys token hashes, pairwise ids, CSRF, signing-key encryption |
 * | LOG_LEVEL                      | info                     | pino level |
 * | KEYWARD_CODE_TTL               | 600                      | authorization code lifetime |
 * | KEYWARD_ACCESS_TOKEN_TTL       | 14400                    | Canva dialect access token lifetime |
 * | KEYWARD_REFRESH_TOKEN_TTL      | 15552000 (180 days)      | Canva dialect refresh token lifetime |
 * | KEYWARD_CAL_ACCESS_TOKEN_TTL   | 3600                     | Cal.com dialect access token lifetime |
 * | KEYWARD_CAL_REFRESH_TOKEN_TTL  | 31536000 (365 days)      | Cal.com dialect refresh token lifetime |
 * | KEYWARD_SESSION_TTL            | 43200                    | sign-in session lifetime |
 * | KEYWARD_KEY_RELOAD             | 30                       | how often signing keys are re-read, so a rotation reaches every instance |
 *
 * With SQLite and no KEYWARD_SECRET, a secret is generated on first start and kept in
 * `keyward.secret` beside the database file (mode 0600). PostgreSQL requires KEYWARD_SECRET,
 * because every instance must share it.
 */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  issuer: string;
  secret: string;
  secretSource: "environment" | "generated" | "file" | "ephemeral";
  logLevel: string;
  codeTtlMs: number;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  calAccessTokenTtlMs: number;
  calRefreshTokenTtlMs: number;
  sessionTtlMs: number;
  keyReloadMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function seconds(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback * 1000;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new ConfigError(`${name} must be a positive whole number of seconds`);
  return value * 1000;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

function resolveSecret(env: Env, databaseUrl: string): Pick<Config, "secret" | "secretSource"> {
  const fromEnv = env.KEYWARD_SECRET;
  if (fromEnv) {
    if (fromEnv.length < 32) throw new ConfigError("KEYWARD_SECRET must be at least 32 characters long");
    return { secret: fromEnv, secretSource: "environment" };
  }
  if (isPostgresUrl(databaseUrl)) {
    throw new ConfigError("KEYWARD_SECRET must be set when DATABASE_URL is PostgreSQL (every instance shares it)");
  }
  if (databaseUrl === ":memory:") return { secret: randomToken(32), secretSource: "ephemeral" };
  const file = join(dirname(resolve(databaseUrl)), "keyward.secret");
  if (existsSync(file)) return { secret: readFileSync(file, "utf8").trim(), secretSource: "file" };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${randomToken(32)}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { secret: readFileSync(file, "utf8").trim(), secretSource: "generated" };
}

export function secretFilePath(databaseUrl: string): string {
  return join(dirname(resolve(databaseUrl)), "keyward.secret");
}

export function loadConfig(env: Env = process.env): Config {
  const port = env.PORT ? Number(env.PORT) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError("PORT must be a port number");
  const databaseUrl = env.DATABASE_URL || "./data/keyward.db";
  const issuer = (env.KEYWARD_ISSUER || `http://localhost:${port}`).replace(/\/+$/, "");
  try {
    new URL(issuer);
  } catch {
    throw new ConfigError("KEYWARD_ISSUER must be an absolute URL");
  }
  return {
    port,
    host: env.HOST || "127.0.0.1",
    databaseUrl,
    issuer,
    ...resolveSecret(env, databaseUrl),
    logLevel: env.LOG_LEVEL || "info",
    codeTtlMs: seconds(env, "KEYWARD_CODE_TTL", 600),
    accessTokenTtlMs: seconds(env, "KEYWARD_ACCESS_TOKEN_TTL", 4 * 3600),
    refreshTokenTtlMs: seconds(env, "KEYWARD_REFRESH_TOKEN_TTL", 180 * 86400),
    calAccessTokenTtlMs: seconds(env, "KEYWARD_CAL_ACCESS_TOKEN_TTL", 3600),
    calRefreshTokenTtlMs: seconds(env, "KEYWARD_CAL_REFRESH_TOKEN_TTL", 365 * 86400),
    sessionTtlMs: seconds(env, "KEYWARD_SESSION_TTL", 12 * 3600),
    keyReloadMs: seconds(env, "KEYWARD_KEY_RELOAD", 30),
  };
}
