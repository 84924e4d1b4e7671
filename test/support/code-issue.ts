import type { CodeIssue } from "../../src/core/authorization.js";
import { type Harness, pkcePair, REDIRECT_URI } from "./harness.js";

/** A new client and user, and what the consent page would issue to the one for the other. */
export async function newCodeIssue(h: Harness): Promise<CodeIssue> {
  const client = await h.createClient();
  const user = await h.createUser();
  return {
    clientId: client.clientId,
    userId: user.userId,
    scopes: ["profile:read"],
    redirectUri: REDIRECT_URI,
    redirectUriExplicit: true,
    codeChallenge: pkcePair().challenge,
  };
}
