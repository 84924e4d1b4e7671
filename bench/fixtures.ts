import { createHash, randomBytes } from "node:crypto";

/** The client every server is configured with: one confidential client, this redirect URI and these scopes. */
export const REDIRECT_URI = "https://client.example/callback";
export const SCOPES = "design:meta:read profile:read asset:read";

export interface CodeFixture {
  code: string;
  verifier: string;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString("base64")}`;
}

export function form(values: Record<string, string>): string {
  return new URLSearchParams(values).toString();
}
