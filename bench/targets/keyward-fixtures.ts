import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SQLite from "better-sqlite3";
import { createClient } from "../../src/cli/clients.js";
import { loadConfig } from "../../src/config.js";
import { issueAuthorizationCode } from "../../src/core/authorization.js";
import type { CoreContext } from "../../src/core/context.js";
import { randomToken } from "../../src/core/crypto.js";
import type { IssuedTokens } from "../../src/core/grants/types.js";
import { hashPassword } from "../../src/core/passwords.js";
import { exchange } from "../../src/core/token-endpoint.js";
import { openRuntime, type Runtime } from "../../src/runtime.js";
import { isSqliteBusy } from "../../src/store/errors.js";
import type { ClientRecord } from "../../src/store/types.js";
import { createTestSchema, type TestSchema } from "../../test/support/postgres.js";
import { type CodeFixture, pkcePair, REDIRECT_URI, SCOPES } from "../fixtures.js";

const BATCH = 500;
/**
 * A 2 GB WAL was emptied within a second of the last minted batch here; the bound only keeps a
 * run from hanging on a lock that is never let go.
 */
const SETTLE_WITHIN_MS = 180_000;
/** How long one checkpoint waits for the server's reads to end. */
const LOCK_WAIT_MS = 1000;
const POSTGRES_BENCH_SECRET = "keyward-benchmark-secret-for-postgres-runs-only";

/**
 * Copies every WAL frame into the database file, syncs the file and empties the WAL; false when
 * another connection was in the way.
 */
function truncateWal(database: SQLite.Database): boolean {
  try {
    const [result] = database.pragma("wal_checkpoint(TRUNCATE)") as Array<{ busy: number }>;
    return result?.busy === 0;
  } catch (error) {
    if (isSqliteBusy(error)) return false;
    throw error;
  }
}

/**
 * keyward's shipped rate limits (1200 token or revoke requests a minute per client) would answer
 * most of a benchmark with 429. They are raised out of reach, not turned off, so the limiter's
 * own cost per request is still measured.
 */
const UNREACHABLE = "1000000000";
const RATE_LIMITS = {
  KEYWARD_RATE_PER_CLIENT: UNREACHABLE,
  KEYWARD_RATE_INTROSPECT_PER_CLIENT: UNREACHABLE,
  KEYWARD_RATE_PER_ADDRESS: UNREACHABLE,
};

/** Where a server's data lives: a SQLite file's directory, or a PostgreSQL schema. */
interface Place {
  directory?: string;
  schema?: TestSchema;
}

async function removePlace({ directory, schema }: Place): Promise<void> {
  if (directory) rmSync(directory, { recursive: true, force: true });
  await schema?.drop();
}

/**
 * The benchmark's own connection to a keyward database, with one confidential client. Each code
 * (and so each lineage) is issued for a user of its own: revoking a refresh token revokes every
 * lineage of its user with the client, and with one user for all, the first revocation would leave
 * the rest nothing to do. Codes and users are minted through keyward's core and store in batches
 * of one transaction each; tokens by exchanging those codes through the core, a batch at a time.
 */
export class KeywardFixtures {
  private constructor(
    /** The environment the server must run with to share this database. */
    readonly env: Record<string, string>,
    private readonly runtime: Runtime,
    readonly client: ClientRecord,
    readonly clientSecret: string,
    /** One scrypt hash serves every user minted: none of them signs in. */
    private readonly passwordHash: string,
    private readonly place: Place,
  ) {}

  /**
   * With PostgreSQL, each server gets a schema of its own, dropped when it closes, so that no run
   * starts on tables that earlier runs and rounds have filled.
   */
  static async open(postgresUrl: string | undefined, issuer: string): Promise<KeywardFixtures> {
    const place: Place = postgresUrl
      ? { schema: await createTestSchema(postgresUrl, "keyward_bench") }
      : { directory: mkdtempSync(join(tmpdir(), "keyward-bench-")) };
    const env: Record<string, string> = {
      DATABASE_URL: place.schema?.url ?? join(place.directory ?? "", "keyward.db"),
      KEYWARD_ISSUER: issuer,
      ...RATE_LIMITS,
    };
    if (postgresUrl) env.KEYWARD_SECRET = process.env.KEYWARD_SECRET || POSTGRES_BENCH_SECRET;
    let runtime: Runtime | undefined;
    try {
      runtime = await openRuntime(loadConfig(env));
      await runtime.keyRing.load(Date.now());
      const { client, secret } = await createClient(runtime, {
        name: "Benchmark",
        redirectUris: [REDIRECT_URI],
        scope: SCOPES,
      });
      const passwordHash = await hashPassword(randomBytes(16).toString("base64url"));
      return new KeywardFixtures(env, runtime, client, secret, passwordHash, place);
    } catch (error) {
      await runtime?.close();
      await removePlace(place);
      throw error;
    }
  }

  mintCodes(count: number): Promise<CodeFixture[]> {
    return this.settled(this.codesInBatches(count));
  }

  async mintRefreshTokens(count: number): Promise<string[]> {
    return (await this.settled(this.exchangedCodes(count))).map((t) => t.refreshToken.value);
  }

  async mintAccessToken(): Promise<string> {
    const [tokens] = await this.settled(this.exchangedCodes(1));
    return tokens?.accessToken.value ?? "";
  }

  async close(): Promise<void> {
    await this.runtime.close();
    await removePlace(this.place);
  }

  /** Waits for `minting`, then until what it wrote is on the disk where the server reads it. */
  private async settled<T>(minting: Promise<T>): Promise<T> {
    const made = await minting;
    // The server is another process: it sees the rows only once they are committed.
    await this.runtime.core.store.flush();
    await this.settleOnDisk();
    return made;
  }

  private async codesInBatches(count: number): Promise<CodeFixture[]> {
    const made: CodeFixture[] = [];
    while (made.length < count) {
      const size = Math.min(BATCH, count - made.length);
      await this.runtime.core.store.transaction(async (tx) => {
        const ctx = { ...this.runtime.core, store: tx };
        for (let i = 0; i < size; i++) made.push(await this.issueCode(ctx));
      });
    }
    return made;
  }

  /**
   * Each batch of codes is exchanged as the server exchanges codes for concurrent requests: all at
   * once, each exchange in transactions of its own, so that one turn's signatures go to the signing
   * thread in one message. One exchange after another waited for a round trip to that thread each.
   */
  private async exchangedCodes(count: number): Promise<IssuedTokens[]> {
    const made: IssuedTokens[] = [];
    while (made.length < count) {
      const codes = await this.codesInBatches(Math.min(BATCH, count - made.length));
      made.push(...(await Promise.all(codes.map((code) => this.exchangeCode(code)))));
    }
    return made;
  }

  /**
   * Minting writes each batch's pages to the WAL faster than a checkpoint copies them back: a
   * pool of 170,000 refresh tokens left a WAL of 3.8 GB. Copying it back during the measured run
   * competed for the disk and the cores (the WAL's own syncs took 0.9-1.9 ms at the 90th
   * percentile then, against 0.5-0.9 ms without). Nor may the copy's pages wait in the OS's cache:
   * the server's first disk sync then wrote them out with its own, and the first revocation after
   * minting 144,000 refresh tokens took 1.4 s to answer (0.5 s after 60,000), a second of the
   * measured run with no response. So the run waits until the minted rows are in the database file
   * and on the disk: a TRUNCATE checkpoint on a connection of its own copies every frame back,
   * syncs the file (`synchronous` is FULL there, SQLite's default) and empties the WAL.
   */
  private async settleOnDisk(): Promise<void> {
    const { directory } = this.place;
    if (directory === undefined) return;
    const database = new SQLite(join(directory, "keyward.db"));
    try {
      database.pragma(`busy_timeout = ${LOCK_WAIT_MS}`);
      const deadline = Date.now() + SETTLE_WITHIN_MS;
      // SQLite answers busy at once, whatever the timeout, while the server's checkpoint thread is
      // copying (one checkpoint at a time); then it is tried again.
      while (!truncateWal(database)) {
        if (Date.now() > deadline) throw new Error("could not checkpoint the WAL after minting");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      database.close();
    }
  }

  private async mintUser(ctx: CoreContext): Promise<string> {
    const id = randomToken(16);
    await ctx.store.createUser({
      id,
      email: `bench-${id}@example.com`,
      passwordHash: this.passwordHash,
      displayName: "Benchmark user",
      teamId: randomToken(16),
      createdAt: ctx.now(),
    });
    return id;
  }

  /**
   * Each user has consented, as one who came through the authorization page has: revoking a
   * refresh token then withdraws a consent that exists, as it would in use.
   */
  private async issueCode(ctx: CoreContext): Promise<CodeFixture> {
    const { verifier, challenge } = pkcePair();
    const userId = await this.mintUser(ctx);
    const scopes = SCOPES.split(" ");
    await ctx.store.saveConsent({ clientId: this.client.id, userId, scopes, updatedAt: ctx.now() });
    const code = await issueAuthorizationCode(ctx, {
      clientId: this.client.id,
      userId,
      scopes,
      redirectUri: REDIRECT_URI,
      redirectUriExplicit: true,
      codeChallenge: challenge,
    });
    if (code === undefined) throw new Error(`benchmark user ${userId} vanished`);
    return { code, verifier };
  }

  private async exchangeCode({ code, verifier }: CodeFixture): Promise<IssuedTokens> {
    const result = await exchange(this.runtime.core, "authorization_code", {
      client: this.client,
      format: this.runtime.canvaTokens,
      code,
      codeVerifier: verifier,
      redirectUri: REDIRECT_URI,
    });
    if (!result.ok) throw new Error(`could not mint tokens: ${result.error.description}`);
    return result.value;
  }
}
