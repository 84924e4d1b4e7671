import { createHash, randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyServerOptions, LightMyRequestResponse } from "fastify";
import { createClient } from "../../src/cli/clients.js";
import { loadConfig } from "../../src/config.js";
import { type CodeIssue, issueAuthorizationCode, recordConsent } from "../../src/core/authorization.js";
import type { CoreContext } from "../../src/core/context.js";
import { createUser } from "../../src/core/users.js";
import { buildApp } from "../../src/http/app.js";
import { openRuntime, type Runtime } from "../../src/runtime.js";

export const TEST_SECRET = "test-secret-test-secret-test-secret-0123456789";
export const REDIRECT_URI = "https://client.example/callback";
export const SCOPES = "design:meta:read profile:read asset:read";

export interface TestClient {
  clientId: string;
  clientSecret: string;
  basic: string;
}

export interface TestUser {
  userId: string;
  email: string;
  password: string;
}

export interface Harness {
  app: FastifyInstance;
  runtime: Runtime;
  /** Moves the server's clock forward, to test expiry without waiting. */
  advanceClock(ms: number): void;
  createClient(options?: { redirectUris?: string[]; scope?: string; name?: string }): Promise<TestClient>;
  createUser(options?: { email?: string; password?: string; displayName?: string }): Promise<TestUser>;
  /** Issues a code as the authorization page would after consent; returns the code and its verifier. */
  issueCode(
    client: TestClient,
    user: TestUser,
    options?: { scope?: string; redirectUri?: string; explicitRedirect?: boolean; withPkce?: boolean },
  ): Promise<{ code: string; verifier: string; challenge: string }>;
  /** Issues a code as `issueCode` does and redeems it at Canva's token endpoint; returns the response. */
  exchangeCode(client: TestClient, user: TestUser, options?: { scope?: string }): Promise<LightMyRequestResponse>;
  /** Spends a refresh token at Canva's token endpoint; returns the response. */
  refresh(client: TestClient, refreshToken: string, scope?: string): Promise<LightMyRequestResponse>;
  /** Calls the profile endpoint with an access token; returns the response. */
  profile(accessToken: string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

let userCounter = 0;

/** An in-process keyward on an in-memory SQLite database, driven with `app.inject`. */
/** As the consent page does when the user presses Allow: records consent, then issues the code. */
export async function consentAndIssue(core: CoreContext, issue: CodeIssue): Promise<string> {
  const consented = await recordConsent(core, issue.clientId, issue.userId, issue.scopes);
  const code = consented ? await issueAuthorizationCode(core, issue) : undefined;
  if (code === undefined) throw new Error(`no user ${issue.userId} to issue a code for`);
  return code;
}

/** `logger` is Fastify's logger option; the default logs nothing. */
export async function createHarness(
  env: Record<string, string> = {},
  logger: FastifyServerOptions["logger"] = false,
): Promise<Harness> {
  const config = loadConfig({
    DATABASE_URL: ":memory:",
    KEYWARD_SECRET: TEST_SECRET,
    KEYWARD_ISSUER: "http://keyward.test",
    ...env,
  });
  const opened = await openRuntime(config);
  let offset = 0;
  const runtime: Runtime = { ...opened, core: { ...opened.core, now: () => Date.now() + offset } };
  await runtime.loadKeys(Date.now());
  const app = buildApp(runtime, { logger });
  await app.ready();
  const harness: Harness = {
    app,
    runtime,
    advanceClock(ms) {
      offset += ms;
    },
    async createClient(options = {}) {
      const { client, secret } = await createClient(runtime, {
        name: options.name ?? "Test Integration",
        redirectUris: options.redirectUris ?? [REDIRECT_URI],
        scope: options.scope ?? SCOPES,
      });
      return {
        clientId: client.id,
        clientSecret: secret,
        basic: `Basic ${Buffer.from(`${client.id}:${secret}`).toString("base64")}`,
      };
    },
    async createUser(options = {}) {
      const email = options.email ?? `user${++userCounter}-${randomBytes(3).toString("hex")}@example.com`;
      const password = options.password ?? "correct horse battery";
      const user = await createUser(runtime.core, { email, password, displayName: options.displayName });
      return { userId: user.id, email, password };
    },
    async issueCode(client, user, options = {}) {
      const { verifier, challenge } = pkcePair();
      const scopes = (options.scope ?? SCOPES).split(" ");
      const code = await consentAndIssue(runtime.core, {
        clientId: client.clientId,
        userId: user.userId,
        scopes,
        redirectUri: options.redirectUri ?? REDIRECT_URI,
        redirectUriExplicit: options.explicitRedirect ?? true,
        codeChallenge: options.withPkce === false ? null : challenge,
      });
      return { code, verifier, challenge };
    },
    async exchangeCode(client, user, options = {}) {
      const { code, verifier } = await harness.issueCode(client, user, options);
      return app.inject({
        method: "POST",
        url: "/rest/v1/oauth/token",
        headers: { ...FORM, authorization: client.basic },
        payload: form({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI }),
      });
    },
    refresh(client, refreshToken, scope) {
      return app.inject({
        method: "POST",
        url: "/rest/v1/oauth/token",
        headers: { ...FORM, authorization: client.basic },
        payload: form({ grant_type: "refresh_token", refresh_token: refreshToken, ...(scope && { scope }) }),
      });
    },
    profile(accessToken) {
      return app.inject({ url: "/rest/v1/users/me/profile", headers: { authorization: `Bearer ${accessToken}` } });
    },
    async close() {
      await app.close();
      await runtime.close();
    },
  };
  return harness;
}

export function form(values: Record<string, string>): string {
  return new URLSearchParams(values).toString();
}

export const FORM = { "content-type": "application/x-www-form-urlencoded" };
