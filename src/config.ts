import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import { randomToken } from "./core/crypto.js";
import { isPostgresUrl } from "./store/engine.js";
import { DEFAULT_POOL_SETTINGS, type PoolSettings } from "./store/pool-settings.js";
import { syncPath } from "./sync-path.js";

/**
 * Every setting keyward reads, from the environment. Durations are in seconds.
 *
 * | variable                       | default                  | meaning |
 * |--------------------------------|--------------------------|---------|
 * | PORT                           | 8080                     | port to listen on |
 * | HOST                           | 127.0.0.1                | address to listen on |
 * | DATABASE_URL                   | ./data/keyward.db        | `postgres://...` for PostgreSQL, a path for a SQLite file; any other URL is refused |
 * | KEYWARD_ISSUER                 | http://127.0.0.1:<PORT>  | public base URL, the `iss` of every token (the default is where HOST's default listens) |
 * | KEYWARD_SECRET                 | generated, see below     | server secret (32+ chars): keys token hashes, pairwise ids, CSRF, signing-key encryption |
 * | LOG_LEVEL                      | info                     | pino level |
 * | KEYWARD_CODE_TTL               | 600                      | authorization code lifetime |
 * | KEYWARD_ACCESS_TOKEN_TTL       | 14400                    | Canva dialect access token lifetime |
 * | KEYWARD_ACCESS_TOKEN_AUDIENCE  | KEYWARD_ISSUER           | `aud` of Canva dialect access tokens (RFC 9068): the identifier resource servers check |
 * | KEYWARD_REFRESH_TOKEN_TTL      | 15552000 (180 days)      | Canva dialect refresh token lifetime |
 * | KEYWARD_CAL_ACCESS_TOKEN_TTL   | 3600                     | Cal.com dialect access token lifetime |
 * | KEYWARD_CAL_REFRESH_TOKEN_TTL  | 31536000 (365 days)      | Cal.com dialect refresh token lifetime |
 * | KEYWARD_REFRESH_GRACE          | 0 (off)                  | up to 60: how long a client that lost a refresh's answer may present the spent refresh token again and get new tokens, rather than having its lineage revoked for reuse |
 * | KEYWARD_SESSION_TTL            | 43200                    | sign-in session lifetime |
 * | KEYWARD_KEY_RELOAD             | 30                       | how often signing keys are re-read, so a rotation reaches every instance; a new key signs this long (and 2 s) after its rotation |
 * | KEYWARD_PG_POOL_SIZE           | 10                       | PostgreSQL connections per process (per worker with KEYWARD_WORKERS), at most 1000 |
 * | KEYWARD_PG_STATEMENT_TIMEOUT   | 10                       | PostgreSQL statement_timeout; also bounds a transaction left idle |
 * | KEYWARD_PG_CONNECT_TIMEOUT     | 5                        | how long a request waits for a PostgreSQL connection before a 503 |
 * | KEYWARD_PG_IDLE_TIMEOUT        | 300                      | a PostgreSQL connection unused this long is closed; 0 keeps connections open |
 * | KEYWARD_PG_PREPARE             | on                       | `off` sends every query unnamed, for a proxy that cannot keep named prepared statements per connection (PgBouncer before 1.21 in transaction mode) |
 * | KEYWARD_PRUNE_INTERVAL         | 600                      | mean time between prunes of expired records (randomized ±50%); 0 turns the timer off |
 * | KEYWARD_PRUNE_BATCH            | 500                      | rows per delete statement when pruning (on SQLite fewer while they take over 20 ms), at most 100000 |
 * | KEYWARD_WORKERS                | 1                        | server processes on this machine, at most 256 (`keyward start --workers N` overrides) |
 * | KEYWARD_REQUEST_TIMEOUT        | 60                       | up to 3600: a request whose headers and body have not all arrived by then is answered 408 and its connection closed, so a stalled client holds neither a connection nor a shutdown |
 * | KEYWARD_TRUST_PROXY            | (none)                   | `true`, a hop count (at most 100), or addresses of proxies whose X-Forwarded-For to believe |
 * | REDIS_URL                      | (none: limits in memory) | Redis (redis:// or rediss://) shared by every instance for rate limits and sign-in failure counts |
 * | KEYWARD_REDIS_PREFIX           | keyward:rl:              | prefix of every Redis key keyward writes |
 * | KEYWARD_RATE_WINDOW            | 60                       | rate-limit window |
 * | KEYWARD_RATE_PER_CLIENT        | 1200                     | requests per window per client per endpoint (token, revoke, Cal.com flow); codes per client and user (authorization page, Cal.com authorize) |
 * | KEYWARD_RATE_INTROSPECT_PER_CLIENT | 12000                | introspection requests per window per client |
 * | KEYWARD_RATE_PER_ADDRESS       | 3000                     | requests per window per source address per endpoint, counted before authentication |
 * | KEYWARD_SIGNIN_FAILURES_PER_ACCOUNT | 5                   | failed sign-ins per account per sign-in window before attempts must wait; counted apart for each browser the account trusts |
 * | KEYWARD_SIGNIN_FAILURES_PER_ADDRESS | 20                  | failed sign-ins per source address per sign-in window |
 * | KEYWARD_SIGNIN_WINDOW          | 900                      | sign-in failure window |
 * | KEYWARD_ADMIN_TOKEN            | (none: no admin API)     | 32+ printable ASCII characters, no spaces; turns on the admin API (`/admin/v1`: clients and users), which takes it as a bearer token |
 * | KEYWARD_ADMIN_PORT             | (none: on PORT)          | serves the admin API on a listener of its own, and not on PORT; needs KEYWARD_ADMIN_TOKEN |
 * | KEYWARD_ADMIN_HOST             | 127.0.0.1                | address of the admin listener |
 * | KEYWARD_ADMIN_FAILURES_PER_ADDRESS | 20                   | failed admin API authentications per source address per sign-in window, after which the address is refused (429) |
 *
 * A rate of 0 turns that limit off. An empty value is unset. Numbers are digits alone. Durations are
 * whole seconds: lifetimes and windows at most ten years, the key reload, prune interval and
 * PostgreSQL timeouts at most about 24 days (Node's timer limit).
 *
 * With SQLite and no KEYWARD_SECRET, a secret is generated on first start and kept in
 * `keyward.secret` beside the database file (mode 0600). PostgreSQL requires KEYWARD_SECRET,
 * because every instance must share it. The database remembers a keyed hash of the secret it was
 * set up with, and a process holding another one refuses to run (see `holdsDatabaseSecret`).
 */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  issuer: string;
  /** `aud` of the Canva dialect's RFC 9068 access tokens. */
  accessTokenAudience: string;
  secret: string;
  secretSource: "environment" | "generated" | "file" | "ephemeral";
  logLevel: string;
  codeTtlMs: number;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  calAccessTokenTtlMs: number;
  calRefreshTokenTtlMs: number;
  /** 0: a spent refresh token presented again is always reuse. */
  refreshGraceMs: number;
  sessionTtlMs: number;
  keyReloadMs: number;
  pool: PoolSettings;
  /** 0: no prune timer. */
  pruneIntervalMs: number;
  pruneBatchSize: number;
  workers: number;
  requestTimeoutMs: number;
  /** `true`, a hop count, or a comma-separated list of proxy addresses. */
  trustProxy: boolean | number | string[] | undefined;
  redisUrl: string | undefined;
  redisPrefix: string;
  rateLimits: RateLimits;
  /** Unset: the admin API is not served at all. */
  adminToken: string | undefined;
  /** Where the admin API listens, apart from the public listener; unset: on the public one. */
  adminListener: { port: number; host: string } | undefined;
}

export interface RateLimits {
  windowMs: number;
  perClient: number;
  introspectPerClient: number;
  perAddress: number;
  signInFailuresPerAccount: number;
  signInFailuresPerAddress: number;
  signInWindowMs: number;
  adminFailuresPerAddress: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/**
 * Digits only: `Number` would also take `0x10`, `1e3`, `+5` and surrounding spaces, none of which
 * anyone writes for a count on purpose. NaN for anything else.
 */
export function wholeNumber(raw: string): number {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
}

function count(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = wholeNumber(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError(`${name} must be a whole number (0 turns the limit off)`);
  return value;
}

/** A whole-number setting within [min, max]. */
function wholeNumberIn(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = wholeNumber(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`${name} must be a whole number ${range}`);
  }
  return value;
}

/**
 * A minute, as the longest grace: within it a stolen refresh token, replayed after the client
 * rotated it, gets tokens instead of revoking the lineage (until the client's next refresh).
 */
const MAX_REFRESH_GRACE_SECONDS = 60;

/** More processes than any machine keyward runs on has cores for; a typo beyond it would fork without end. */
export const MAX_WORKERS = 256;
/** Far more connections than one PostgreSQL serves by default (100); a typo beyond it is refused. */
const MAX_POOL_SIZE = 1000;
/** Rows a prune deletes in one statement; more would hold locks for long, which batching is there to avoid. */
const MAX_PRUNE_BATCH = 100_000;
/** More proxies than any request passes through. */
const MAX_PROXY_HOPS = 100;

/** Ten years: a longer lifetime would put expiry times past what the stores' integer columns hold. */
const MAX_LIFETIME_SECONDS = 10 * 365 * 86400;
/** About 24 days: Node runs a timer set for longer at once, over and over. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A setting given in whole seconds, at least one, as milliseconds. */
function durationMs(env: Env, name: string, fallback: number, max = MAX_LIFETIME_SECONDS): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback * 1000;
  const value = wholeNumber(raw);
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new ConfigError(`${name} must be a whole number of seconds from 1 to ${max}`);
  }
  return value * 1000;
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "on") return true;
  if (raw === "off") return false;
  throw new ConfigError(`${name} must be on or off`);
}

/** The names proxy-addr (Fastify's trustProxy) accepts besides addresses and subnets. */
const PROXY_RANGE_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

function isProxyAddress(value: string): boolean {
  if (PROXY_RANGE_NAMES.has(value)) return true;
  const [address = "", mask, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (mask === undefined) return true;
  if (/^\d+$/.test(mask)) return Number(mask) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(mask) === 4;
}

function parseTrustProxy(raw: string | undefined): Config["trustProxy"] {
  if (!raw) return undefined;
  if (raw === "true") return true;
  if (/^\d+$/.test(raw)) {
    const hops = wholeNumber(raw);
    if (hops <= MAX_PROXY_HOPS) return hops;
    throw new ConfigError(`KEYWARD_TRUST_PROXY as a hop count must be at most ${MAX_PROXY_HOPS}`);
  }
  const addresses = raw.split(",").map((address) => address.trim());
  const wrong = addresses.filter((address) => !isProxyAddress(address));
  if (wrong.length > 0) {
    throw new ConfigError(
      `KEYWARD_TRUST_PROXY must be true, a hop count, or addresses and subnets of proxies; not ${wrong.join(", ")}`,
    );
  }
  return addresses;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function logLevel(raw: string | undefined): string {
  if (!raw) return "info";
  if (!LOG_LEVELS.includes(raw)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  return raw;
}

/** The issuer is the base of every URL keyward publishes: http(s), with no query or fragment to break them. */
function parseIssuer(raw: string): string {
  const issuer = raw.replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ConfigError("KEYWARD_ISSUER must be an absolute URL");
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.search !== "" || url.hash !== "") {
    throw new ConfigError("KEYWARD_ISSUER must be an http or https URL without a query or fragment");
  }
  return issuer;
}

/** RFC 7519's StringOrURI, as resource servers compare it: one printable token, no spaces. */
function parseAudience(raw: string | undefined, issuer: string): string {
  if (!raw) return issuer;
  if (raw.length > 2048 || !/^[\x21-\x7e]+$/.test(raw)) {
    throw new ConfigError(
      "KEYWARD_ACCESS_TOKEN_AUDIENCE must be printable ASCII without spaces, at most 2048 characters",
    );
  }
  return raw;
}

/** A SQLite file path or a PostgreSQL URL; any other URL is a mistake, not a file name. */
export function parseDatabaseUrl(raw: string | undefined): string {
  const url = raw || "./data/keyward.db";
  // `file:` with or without slashes (as other tools write SQLite URLs) is a URL too, not a directory named "file:".
  if ((/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^file:/i.test(url)) && !isPostgresUrl(url)) {
    throw new ConfigError("DATABASE_URL must be a SQLite file path or a postgres:// (postgresql://) URL");
  }
  return url;
}

/** Where a SQLite database's generated secret is kept: beside the database file. */
export function secretFile(databaseUrl: string): string {
  return join(dirname(resolve(databaseUrl)), "keyward.secret");
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
  const file = secretFile(databaseUrl);
  if (existsSync(file)) return { secret: secretIn(file), secretSource: "file" };
  const made = mkdirSync(dirname(file), { recursive: true });
  if (!writeSecretFile(file)) return { secret: secretIn(file), secretSource: "file" };
  // On disk before the database it unlocks is: a database whose secret a power loss took is lost
  // whole. So are the names leading to it: its directory's, and those of directories made for it.
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    syncPath(dir);
    if (made === undefined || dir === made || dir === dirname(dir)) break;
  }
  if (made !== undefined) syncPath(dirname(made));
  return { secret: secretIn(file), secretSource: "generated" };
}

function secretIn(file: string): string {
  const secret = readFileSync(file, "utf8").trim();
  if (secret.length < 32) {
    throw new ConfigError(
      `${file} holds no usable secret (it needs at least 32 characters): if no database was made with it, delete it ` +
        "and keyward makes a new one; otherwise put the database's secret back, or set KEYWARD_SECRET",
    );
  }
  return secret;
}

/**
 * Writes a new secret whole or not at all: to a file of its own, synced, then linked in under the
 * secret's name, so a full disk or a crash leaves no empty or partial secret to be read later.
 * False when another process linked its own first: that one stands.
 */
function writeSecretFile(file: string): boolean {
  const partial = `${file}.${process.pid}.${randomToken(6)}.partial`;
  try {
    writeFileSync(partial, `${randomToken(32)}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(partial, 0o600);
    syncPath(partial);
    // Needs hard links, as SQLite's WAL needs a local filesystem (https://sqlite.org/wal.html).
    linkSync(partial, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST" && existsSync(file)) return false;
    throw error;
  } finally {
    rmSync(partial, { force: true });
  }
}

function adminToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.length < 32) throw new ConfigError("KEYWARD_ADMIN_TOKEN must be at least 32 characters long");
  // What an `Authorization: Bearer` header can carry as one token: no spaces, nothing outside printable ASCII.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new ConfigError(
      "KEYWARD_ADMIN_TOKEN must be printable ASCII without spaces (a bearer token carries no others)",
    );
  }
  return value;
}

/** A Redis URL ioredis reads as one: `redis://` or `rediss://` and a host; anything else it would take for a socket path. */
function redisUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "redis:" && url.protocol !== "rediss:") || !url.hostname) {
    throw new ConfigError("REDIS_URL must be a redis:// or rediss:// URL naming a host");
  }
  return value;
}

function portNumber(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new ConfigError(`${name} must be a port number`);
  return port;
}

function adminListener(env: Env, token: string | undefined, port: number): Config["adminListener"] {
  const adminPort = portNumber(env, "KEYWARD_ADMIN_PORT");
  if (adminPort === undefined) {
    if (env.KEYWARD_ADMIN_HOST) throw new ConfigError("KEYWARD_ADMIN_HOST needs KEYWARD_ADMIN_PORT");
    return undefined;
  }
  if (!token) throw new ConfigError("KEYWARD_ADMIN_PORT needs KEYWARD_ADMIN_TOKEN (without it there is no admin API)");
  // Port 0 asks for any free port, so two zeros are two ports.
  if (adminPort !== 0 && adminPort === port) throw new ConfigError("KEYWARD_ADMIN_PORT must differ from PORT");
  return { port: adminPort, host: env.KEYWARD_ADMIN_HOST || "127.0.0.1" };
}

export function loadConfig(env: Env = process.env): Config {
  const port = portNumber(env, "PORT") ?? 8080;
  const databaseUrl = parseDatabaseUrl(env.DATABASE_URL);
  const issuer = parseIssuer(env.KEYWARD_ISSUER || `http://127.0.0.1:${port}`);
  const token = adminToken(env.KEYWARD_ADMIN_TOKEN);
  return {
    port,
    host: env.HOST || "127.0.0.1",
    databaseUrl,
    issuer,
    accessTokenAudience: parseAudience(env.KEYWARD_ACCESS_TOKEN_AUDIENCE, issuer),
    ...resolveSecret(env, databaseUrl),
    logLevel: logLevel(env.LOG_LEVEL),
    codeTtlMs: durationMs(env, "KEYWARD_CODE_TTL", 600),
    accessTokenTtlMs: durationMs(env, "KEYWARD_ACCESS_TOKEN_TTL", 4 * 3600),
    refreshTokenTtlMs: durationMs(env, "KEYWARD_REFRESH_TOKEN_TTL", 180 * 86400),
    calAccessTokenTtlMs: durationMs(env, "KEYWARD_CAL_ACCESS_TOKEN_TTL", 3600),
    calRefreshTokenTtlMs: durationMs(env, "KEYWARD_CAL_REFRESH_TOKEN_TTL", 365 * 86400),
    refreshGraceMs: wholeNumberIn(env, "KEYWARD_REFRESH_GRACE", 0, 0, MAX_REFRESH_GRACE_SECONDS) * 1000,
    sessionTtlMs: durationMs(env, "KEYWARD_SESSION_TTL", 12 * 3600),
    keyReloadMs: durationMs(env, "KEYWARD_KEY_RELOAD", 30, MAX_TIMER_SECONDS),
    pool: {
      size: wholeNumberIn(env, "KEYWARD_PG_POOL_SIZE", DEFAULT_POOL_SETTINGS.size, 1, MAX_POOL_SIZE),
      statementTimeoutMs: durationMs(
        env,
        "KEYWARD_PG_STATEMENT_TIMEOUT",
        DEFAULT_POOL_SETTINGS.statementTimeoutMs / 1000,
        MAX_TIMER_SECONDS,
      ),
      connectTimeoutMs: durationMs(
        env,
        "KEYWARD_PG_CONNECT_TIMEOUT",
        DEFAULT_POOL_SETTINGS.connectTimeoutMs / 1000,
        MAX_TIMER_SECONDS,
      ),
      idleTimeoutMs:
        wholeNumberIn(
          env,
          "KEYWARD_PG_IDLE_TIMEOUT",
          DEFAULT_POOL_SETTINGS.idleTimeoutMs / 1000,
          0,
          MAX_TIMER_SECONDS,
        ) * 1000,
      preparedStatements: onOff(env, "KEYWARD_PG_PREPARE", DEFAULT_POOL_SETTINGS.preparedStatements),
    },
    pruneIntervalMs: wholeNumberIn(env, "KEYWARD_PRUNE_INTERVAL", 600, 0, MAX_TIMER_SECONDS) * 1000,
    pruneBatchSize: wholeNumberIn(env, "KEYWARD_PRUNE_BATCH", 500, 1, MAX_PRUNE_BATCH),
    workers: wholeNumberIn(env, "KEYWARD_WORKERS", 1, 1, MAX_WORKERS),
    requestTimeoutMs: durationMs(env, "KEYWARD_REQUEST_TIMEOUT", 60, 3600),
    adminToken: token,
    adminListener: adminListener(env, token, port),
    trustProxy: parseTrustProxy(env.KEYWARD_TRUST_PROXY),
    redisUrl: redisUrl(env.REDIS_URL),
    redisPrefix: env.KEYWARD_REDIS_PREFIX || "keyward:rl:",
    rateLimits: {
      windowMs: durationMs(env, "KEYWARD_RATE_WINDOW", 60),
      perClient: count(env, "KEYWARD_RATE_PER_CLIENT", 1200),
      introspectPerClient: count(env, "KEYWARD_RATE_INTROSPECT_PER_CLIENT", 12000),
      perAddress: count(env, "KEYWARD_RATE_PER_ADDRESS", 3000),
      signInFailuresPerAccount: count(env, "KEYWARD_SIGNIN_FAILURES_PER_ACCOUNT", 5),
      signInFailuresPerAddress: count(env, "KEYWARD_SIGNIN_FAILURES_PER_ADDRESS", 20),
      signInWindowMs: durationMs(env, "KEYWARD_SIGNIN_WINDOW", 900),
      adminFailuresPerAddress: count(env, "KEYWARD_ADMIN_FAILURES_PER_ADDRESS", 20),
    },
  };
}
