import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type ApprovalOutcome,
  type AuthorizationRequestParams,
  type CodeIssue,
  checkAuthorizationRequest,
  consentAndIssue,
  hasConsent,
  issueUnderConsent,
  type ValidAuthorizationRequest,
} from "../../core/authorization.js";
import { withQuery } from "../../core/redirect-uri.js";
import {
  csrfBinding,
  csrfToken,
  csrfValid,
  hasCsrfBinding,
  postedFromAnotherSite,
  type SignedIn,
  sessionPurpose,
  signedInUser,
  signIn,
} from "../browser.js";
import type { AppDeps } from "../deps.js";
import { duplicatedNames, firstValue, parseForm, postedForm, TooManyParametersError } from "../form-body.js";
import { sendHtml } from "../html.js";
import { consentPage } from "../pages/consent.js";
import { crossSiteFormPage, errorPage, formExpiredPage } from "../pages/error.js";
import { signInPage } from "../pages/sign-in.js";
import { clientWait, retryAfterSeconds } from "../rate-limits.js";

export const AUTHORIZE_PATH = "/api/oauth/authorize";

function rawQuery(request: FastifyRequest): string {
  const index = request.url.indexOf("?");
  return index < 0 ? "" : request.url.slice(index + 1);
}

function requestParams(query: string): AuthorizationRequestParams {
  const form = parseForm(query);
  return {
    responseType: firstValue(form, "response_type"),
    clientId: firstValue(form, "client_id"),
    redirectUri: firstValue(form, "redirect_uri"),
    scope: firstValue(form, "scope"),
    state: form.get("state")?.[0],
    codeChallenge: firstValue(form, "code_challenge"),
    codeChallengeMethod: firstValue(form, "code_challenge_method"),
    duplicated: duplicatedNames(form),
  };
}

function redirectWith(
  deps: AppDeps,
  reply: FastifyReply,
  status: number,
  uri: string,
  params: Record<string, string | undefined>,
) {
  return reply
    .status(status)
    .header("location", withQuery(uri, { ...params, iss: deps.config.issuer }))
    .header("cache-control", "no-store")
    .header("referrer-policy", "no-referrer")
    .send();
}

/**
 * RFC 6749 §4.1.2.1 allows an error_description only printable ASCII without `"` or `\\`; a
 * description that repeats the request (an unknown scope) is cut to that, and to a length a
 * redirect can carry.
 */
function redirectableDescription(description: string): string {
  const printable = description.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "?");
  return printable.length > MAX_DESCRIPTION ? `${printable.slice(0, MAX_DESCRIPTION - 3)}...` : printable;
}

const MAX_DESCRIPTION = 200;

/** The request checked again, with its raw query; undefined once an error page or redirect has answered it. */
async function validate(deps: AppDeps, request: FastifyRequest, reply: FastifyReply, status: number) {
  const query = rawQuery(request);
  let params: AuthorizationRequestParams;
  try {
    params = requestParams(query);
  } catch (error) {
    if (!(error instanceof TooManyParametersError)) throw error;
    sendHtml(reply, 400, errorPage("Invalid request", "The authorization request has too many parameters."));
    return undefined;
  }
  const check = await checkAuthorizationRequest(deps.core, params);
  if (check.kind === "show-error") {
    sendHtml(reply, 400, errorPage("Invalid authorization request", check.error.description, check.error.code));
    return undefined;
  }
  if (check.kind === "redirect-error") {
    redirectWith(deps, reply, status, check.redirectUri, {
      error: check.error.code,
      error_description: redirectableDescription(check.error.description),
      state: check.state,
    });
    return undefined;
  }
  return { request: check.request, query };
}

const codeIssue = (req: ValidAuthorizationRequest, userId: string): CodeIssue => ({
  clientId: req.client.id,
  userId,
  scopes: req.scopes,
  redirectUri: req.redirectUri,
  redirectUriExplicit: req.redirectUriExplicit,
  codeChallenge: req.codeChallenge,
});

/** Redirects with the code, or, when the user was deleted meanwhile, asks to sign in again. */
function answerApproval(
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  req: ValidAuthorizationRequest,
  outcome: Exclude<ApprovalOutcome, { kind: "ask" }>,
) {
  if (outcome.kind === "gone") return showSignIn(deps, request, reply, req);
  return redirectWith(deps, reply, status, req.redirectUri, { code: outcome.code, state: req.state });
}

/**
 * Each code is a durable write of a lineage and a code: a signed-in user (or a page that keeps
 * sending their browser here) may issue them no faster than the per-client limit, as on Cal.com's
 * authorize. Answers the refusal, or undefined when the code may be issued. The count is taken
 * before the code is: a consent withdrawn meanwhile (no code, the consent page) still counts once.
 */
async function issuingTooFast(deps: AppDeps, reply: FastifyReply, req: ValidAuthorizationRequest, userId: string) {
  const wait = await clientWait(deps, "authorize", `${req.client.id}:${userId}`);
  if (wait === 0) return undefined;
  reply.header("retry-after", retryAfterSeconds(wait));
  return sendHtml(
    reply,
    429,
    errorPage("Too many requests", "Too many authorizations for this app: try again shortly."),
  );
}

/** Consent's token is the session's, as every signed-in form's, and also the exact request's. */
const consentPurpose = (signedIn: SignedIn, query: string) => `${sessionPurpose("consent", signedIn)}\u0000${query}`;

function showSignIn(
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  req: ValidAuthorizationRequest,
  status = 200,
  error?: string,
  email?: string,
) {
  const binding = csrfBinding(deps, request, reply);
  return sendHtml(
    reply,
    status,
    signInPage({
      action: "",
      csrfToken: csrfToken(deps, binding, "sign_in"),
      clientName: req.client.name,
      error,
      email,
    }),
  );
}

function showConsent(
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  req: ValidAuthorizationRequest,
  signedIn: SignedIn,
  query: string,
) {
  const binding = csrfBinding(deps, request, reply);
  return sendHtml(
    reply,
    200,
    consentPage({
      clientName: req.client.name,
      userEmail: signedIn.user.email,
      scopes: req.scopes,
      csrfToken: csrfToken(deps, binding, consentPurpose(signedIn, query)),
    }),
  );
}

/**
 * The authorization page (RFC 6749 §4.1.1) at Canva's path. GET shows sign-in or consent, or under
 * a remembered consent redirects with a code; the forms post back to the same URL, so the request
 * is validated again on every step.
 */
export function registerAuthorizePage(app: FastifyInstance, deps: AppDeps): void {
  app.get(AUTHORIZE_PATH, async (request, reply) => {
    const valid = await validate(deps, request, reply, 302);
    if (!valid) return reply;
    const signedIn = await signedInUser(deps, request);
    if (!signedIn) return showSignIn(deps, request, reply, valid.request);
    // HEAD, a safe method, issues nothing: it answers as the consent page would.
    const issuing = request.method !== "HEAD";
    if (issuing && (await hasConsent(deps.core, valid.request.client.id, signedIn.user.id, valid.request.scopes))) {
      const refused = await issuingTooFast(deps, reply, valid.request, signedIn.user.id);
      if (refused) return refused;
      // Checked again as the code is issued: the consent may be withdrawn meanwhile.
      const outcome = await issueUnderConsent(deps.core, codeIssue(valid.request, signedIn.user.id));
      if (outcome.kind !== "ask") return answerApproval(deps, request, reply, 302, valid.request, outcome);
    }
    return showConsent(deps, request, reply, valid.request, signedIn, valid.query);
  });

  app.post(AUTHORIZE_PATH, async (request, reply) => {
    if (postedFromAnotherSite(request)) return sendHtml(reply, 403, crossSiteFormPage());
    const valid = await validate(deps, request, reply, 303);
    if (!valid) return reply;
    const form = postedForm(request.body);
    // Its own forms come with the binding their page set. A post without one (another site's, from
    // a browser that sends no Sec-Fetch-Site) is sent to the page, whose GET carries the browser's
    // Lax cookies: answered here, it would set a new binding over the one this browser has.
    if (!hasCsrfBinding(deps, request)) {
      return reply.status(303).header("location", `${AUTHORIZE_PATH}?${valid.query}`).send();
    }
    const action = firstValue(form, "action");
    const expired = () => sendHtml(reply, 403, formExpiredPage());

    if (action === "sign_in") {
      if (!csrfValid(deps, request, form, "sign_in")) return expired();
      const outcome = await signIn(deps, request, reply, form);
      if (!outcome.ok)
        return showSignIn(deps, request, reply, valid.request, outcome.status, outcome.message, outcome.email);
      // Back to the same request, by path: an absolute-form request target (`POST http://host/...`) names any host.
      const again = `${AUTHORIZE_PATH}?${valid.query}`;
      return reply.status(303).header("location", again).header("cache-control", "no-store").send();
    }

    const signedIn = await signedInUser(deps, request);
    if (action !== "consent" || !signedIn) return showSignIn(deps, request, reply, valid.request);
    if (!csrfValid(deps, request, form, consentPurpose(signedIn, valid.query))) return expired();
    const decision = firstValue(form, "decision");
    if (decision === "allow") {
      const refused = await issuingTooFast(deps, reply, valid.request, signedIn.user.id);
      if (refused) return refused;
      const outcome = await consentAndIssue(deps.core, codeIssue(valid.request, signedIn.user.id));
      return answerApproval(deps, request, reply, 303, valid.request, outcome);
    }
    if (decision === "deny") {
      return redirectWith(deps, reply, 303, valid.request.redirectUri, {
        error: "access_denied",
        error_description: "The user denied the request",
        state: valid.request.state,
      });
    }
    return sendHtml(reply, 400, errorPage("Invalid request", "Choose Allow or Deny."));
  });
}
