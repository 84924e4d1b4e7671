import type { FastifyInstance } from "fastify";
import { checkCalAuthorization, consentAndIssueSoleCode } from "../../core/authorization.js";
import { withQuery } from "../../core/redirect-uri.js";
import { signedInUser } from "../browser.js";
import type { AppDeps } from "../deps.js";
import { badRequest, unauthorized } from "./errors.js";
import { readJsonStrings } from "./json-body.js";
import { assertSameOrigin } from "./same-origin.js";
import { throttleAddress, throttleClient } from "./throttle.js";

/**
 * `POST /oauth/:clientId/authorize`: the signed-in user approves the client, which receives a
 * code on its redirect URI. Posting is the consent; no PKCE and no `state` in this dialect.
 */
export function registerCalAuthorize(app: FastifyInstance, deps: AppDeps): void {
  const { core } = deps;

  app.post<{ Params: { clientId: string } }>("/oauth/:clientId/authorize", async (request, reply) => {
    await throttleAddress(deps, request, reply, "cal-authorize");
    const signedIn = await signedInUser(deps, request);
    if (!signedIn) throw unauthorized("You must be signed in to authorize a client");
    assertSameOrigin(deps, request);
    const { redirectUri } = readJsonStrings(request, ["redirectUri"], "refuse");
    const { clientId } = request.params;
    const checked = await checkCalAuthorization(core, clientId, redirectUri);
    if (!checked.ok) {
      throw badRequest(
        checked.error.code === "invalid_client"
          ? `OAuth client with ID '${clientId}' not found`
          : "Invalid 'redirect_uri' value.",
      );
    }
    const { client, scopes } = checked.value;
    const userId = signedIn.user.id;
    await throttleClient(deps, reply, "cal-authorize", `${client.id}:${userId}`);
    const outcome = await consentAndIssueSoleCode(core, {
      clientId: client.id,
      userId,
      scopes,
      redirectUri,
      redirectUriExplicit: false,
      codeChallenge: null,
    });
    if (outcome.kind === "gone") throw unauthorized("You must be signed in to authorize a client");
    if (outcome.kind === "outstanding") {
      const ownerId = core.keys.pairwiseId(client.id, userId);
      throw badRequest(`User with id=${ownerId} has already authorized client with id=${client.id}.`);
    }
    return reply
      .status(302)
      .header("location", withQuery(redirectUri, { code: outcome.code }))
      .header("referrer-policy", "no-referrer")
      .send();
  });
}
