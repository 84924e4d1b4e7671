import type { ClientRecord, PreviousClientSecret } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { constantTimeEqual, randomToken } from "./crypto.js";
import { fail, ok, type Result } from "./errors.js";

const CLIENT_SECRET_PREFIX = "cnvca";

/** Canva-shaped credentials: an `OC-` id and a `cnvca` secret carrying 256 bits of randomness. */
export function generateClientId(): string {
  return `OC-${randomToken(9)}`;
}

export function generateClientSecret(): string {
  return `${CLIENT_SECRET_PREFIX}${randomToken(32)}`;
}

/** The secret a rotation replaced, while it still authenticates at `now`. */
export function livePreviousSecret(client: ClientRecord | undefined, now: number): PreviousClientSecret | undefined {
  const previous = client?.previousSecret;
  return previous !== undefined && previous.expiresAt > now ? previous : undefined;
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/**
 * Authenticates a confidential client, by its secret or, until it expires, the secret a rotation
 * replaced. An unknown id costs the same hash and comparison as a wrong secret, so response timing
 * does not reveal which client ids exist.
 */
export async function authenticateClient(
  ctx: CoreContext,
  credentials: ClientCredentials,
): Promise<Result<ClientRecord>> {
  const client = await ctx.store.getClient(credentials.clientId);
  const presented = ctx.keys.hashToken(credentials.clientSecret);
  const expected = client?.secretHash ?? ctx.keys.hashToken(`unknown-client:${credentials.clientId}`);
  let matches = constantTimeEqual(presented, expected);
  const previous = livePreviousSecret(client, ctx.now());
  // Both comparisons run, so timing does not tell which secret was presented.
  if (previous !== undefined) matches = constantTimeEqual(presented, previous.hash) || matches;
  if (!matches || !client) {
    return fail("invalid_client", `Client secret is invalid for ${credentials.clientId}`);
  }
  return ok(client);
}
