import type { UserRecord } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { checkAccessToken } from "./token-state.js";

/** Whether a bearer access token opens a user endpoint, and whose account, as the token's client sees it. */
export type ResourceAccess =
  | {
      status: "granted";
      user: UserRecord;
      /** The user's and their team's ids for the token's client: stable for it, unlinkable across clients. */
      userId: string;
      teamId: string;
    }
  | { status: "invalid" }
  | { status: "revoked" }
  | { status: "insufficient_scope"; scope: string };

/**
 * RFC 6750: a live access token whose user still exists opens the endpoint, provided it carries
 * `scope` when one is required. A user deleted since is an invalid token, as the token is gone with them.
 */
export async function accessUser(ctx: CoreContext, value: string, scope?: string): Promise<ResourceAccess> {
  const check = await checkAccessToken(ctx, value);
  if (check.status !== "valid") return check;
  const { token } = check;
  if (scope && !token.scopes.includes(scope)) return { status: "insufficient_scope", scope };
  const user = await ctx.store.getUserById(token.userId);
  if (!user) return { status: "invalid" };
  return {
    status: "granted",
    user,
    userId: ctx.keys.pairwiseId(token.clientId, user.id),
    teamId: ctx.keys.pairwiseId(token.clientId, `team\u0000${user.teamId}`),
  };
}
