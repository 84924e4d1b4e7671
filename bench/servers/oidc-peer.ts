import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";
import MemoryAdapter from "oidc-provider/lib/adapters/memory_adapter.js";
import LRU from "oidc-provider/lib/helpers/lru.js";
import { type CodeFixture, pkcePair, REDIRECT_URI, SCOPES } from "../fixtures.js";

/**
 * node-oidc-provider configured like keyward: one confidential client (HTTP Basic), PKCE S256,
 * refresh-token rotation on every use, ES256 JWT access tokens through a resource indicator.
 * Its in-memory adapter keeps its own storage, sized so the pre-minted pools are not evicted.
 * The parent asks for codes and tokens over IPC; they are minted through the provider's models.
 */
export interface MintRequest {
  id: number;
  kind: "codes" | "refresh" | "access";
  count: number;
}

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = "https://api.bench.example";
const CLIENT_ID = process.env.BENCH_CLIENT_ID ?? "bench-client";
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET ?? "bench-secret";
const ACCOUNT_ID = "bench-user";

/** Its own in-memory adapter; the default store keeps only about the last 1000 entries. */
const storage = new LRU({ maxSize: 10_000_000 });

const { privateKey } = await generateKeyPair("ES256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: "bench", alg: "ES256", use: "sig" };

const provider = new Provider(issuer, {
  adapter: (model: string) => new MemoryAdapter(model, storage),
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "ES256",
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  pkce: { required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  ttl: { AccessToken: 4 * 3600, AuthorizationCode: 600, RefreshToken: 180 * 86400, Grant: 180 * 86400 },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: SCOPES,
        audience: RESOURCE,
        accessTokenTTL: 4 * 3600,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});

const client = await provider.Client.find(CLIENT_ID);

async function newGrant(): Promise<string> {
  const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: CLIENT_ID });
  grant.addResourceScope(RESOURCE, SCOPES);
  return grant.save();
}

async function mintCode(): Promise<CodeFixture> {
  const { verifier, challenge } = pkcePair();
  const code = new provider.AuthorizationCode({
    accountId: ACCOUNT_ID,
    client,
    grantId: await newGrant(),
    scope: SCOPES,
    resource: RESOURCE,
    redirectUri: REDIRECT_URI,
    codeChallenge: challenge,
    codeChallengeMethod: "S256",
  });
  return { code: await code.save(), verifier };
}

async function mintRefreshToken(): Promise<string> {
  const token = new provider.RefreshToken({
    accountId: ACCOUNT_ID,
    client,
    grantId: await newGrant(),
    scope: SCOPES,
    resource: RESOURCE,
    gty: "authorization_code",
    rotations: 0,
  });
  return token.save();
}

/** Opaque: oidc-provider refuses to introspect JWT access tokens (400 unsupported_token_type). */
async function mintAccessToken(): Promise<string> {
  const token = new provider.AccessToken({
    accountId: ACCOUNT_ID,
    client,
    grantId: await newGrant(),
    scope: SCOPES,
    gty: "authorization_code",
  });
  return token.save();
}

const minters = { codes: mintCode, refresh: mintRefreshToken, access: mintAccessToken };

process.on("message", async (message: MintRequest) => {
  const values: unknown[] = [];
  for (let i = 0; i < message.count; i++) values.push(await minters[message.kind]());
  process.send?.({ id: message.id, values });
});
process.on("disconnect", () => process.exit(0));

createServer(provider.callback()).listen(port, "127.0.0.1");
