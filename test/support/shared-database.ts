import { createClient } from "../../src/cli/clients.js";
import { loadConfig } from "../../src/config.js";
import { createUser } from "../../src/core/users.js";
import { openRuntime, type Runtime } from "../../src/runtime.js";
import { consentAndIssue, pkcePair, REDIRECT_URI, SCOPES, TEST_SECRET, type TestClient } from "./harness.js";

export const SHARED_ISSUER = "http://keyward.test";

/** The environment every instance of one deployment shares. */
export function deploymentEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, KEYWARD_SECRET: TEST_SECRET, KEYWARD_ISSUER: SHARED_ISSUER, ...extra };
}

/**
 * One more member of a deployment, in the test process: it registers a client and a user and
 * issues codes as the consent page would, straight into the shared database.
 */
export interface Seeder {
  runtime: Runtime;
  client: TestClient;
  userId: string;
  issueCode(): Promise<{ code: string; verifier: string }>;
  close(): Promise<void>;
}

export async function openSeeder(databaseUrl: string): Promise<Seeder> {
  const runtime = await openRuntime(loadConfig(deploymentEnv(databaseUrl)));
  const { client, secret } = await createClient(runtime, {
    name: "Scale-out test",
    redirectUris: [REDIRECT_URI],
    scope: SCOPES,
  });
  const user = await createUser(runtime.core, {
    email: `scale-${client.id}@example.com`,
    password: "correct horse battery",
  });
  const scopes = SCOPES.split(" ");
  return {
    runtime,
    client: {
      clientId: client.id,
      clientSecret: secret,
      basic: `Basic ${Buffer.from(`${client.id}:${secret}`).toString("base64")}`,
    },
    userId: user.id,
    async issueCode() {
      const { verifier, challenge } = pkcePair();
      const code = await consentAndIssue(runtime.core, {
        clientId: client.id,
        userId: user.id,
        scopes,
        redirectUri: REDIRECT_URI,
        redirectUriExplicit: true,
        codeChallenge: challenge,
      });
      // As the consent page does before it redirects: the workers are other processes.
      await runtime.core.store.flush();
      return { code, verifier };
    },
    close: () => runtime.close(),
  };
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** POSTs a form to a Canva endpoint (`token`, `introspect`, `revoke`) of the instance at `base`. */
export async function canvaPost(
  base: string,
  endpoint: string,
  client: TestClient,
  fields: Record<string, string>,
): Promise<Reply> {
  const response = await fetch(`${base}/rest/v1/oauth/${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: client.basic },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export function redeem(base: string, client: TestClient, code: { code: string; verifier: string }): Promise<Reply> {
  return canvaPost(base, "token", client, {
    grant_type: "authorization_code",
    code: code.code,
    code_verifier: code.verifier,
    redirect_uri: REDIRECT_URI,
  });
}

export function refresh(base: string, client: TestClient, refreshToken: string): Promise<Reply> {
  return canvaPost(base, "token", client, { grant_type: "refresh_token", refresh_token: refreshToken });
}

export async function isActive(base: string, client: TestClient, token: string): Promise<boolean> {
  const reply = await canvaPost(base, "introspect", client, { token });
  if (reply.status !== 200) throw new Error(`introspection answered ${reply.status}`);
  return reply.body.active === true;
}
