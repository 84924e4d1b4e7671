import type { ClientRecord, Store } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { orderedToken } from "./crypto.js";
import { fail, type OAuthError, ok, type Result } from "./errors.js";
import { isSupportedChallengeMethod, isWellFormedChallenge } from "./pkce.js";
import { defaultRedirectUri, matchesExactly, matchesWithGlobs } from "./redirect-uri.js";
import { isSubset, missingScopes, parseScope } from "./scopes.js";

export interface AuthorizationRequestParams {
  responseType?: string;
  clientId?: string;
  redirectUri?: string;
  scope?: string;
  state?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  /** Names of parameters that appeared more than once (RFC 6749 §3.1: that is an error). */
  duplicated?: readonly string[];
}

export interface ValidAuthorizationRequest {
  client: ClientRecord;
  redirectUri: string;
  redirectUriExplicit: boolean;
  scopes: string[];
  state: string | undefined;
  codeChallenge: string;
}

export type AuthorizationCheck =
  | { kind: "valid"; request: ValidAuthorizationRequest }
  /** The client or redirect URI cannot be trusted: show the error, never redirect (RFC 6749 §4.1.2.1). */
  | { kind: "show-error"; error: OAuthError }
  | { kind: "redirect-error"; redirectUri: string; state: string | undefined; error: OAuthError };

const err = (code: OAuthError["code"], description: string): OAuthError => ({ code, description });

/** Checks an authorization request in the order RFC 6749 §4.1.2.1 requires. */
export async function checkAuthorizationRequest(
  ctx: CoreContext,
  params: AuthorizationRequestParams,
): Promise<AuthorizationCheck> {
  const duplicated = params.duplicated ?? [];
  for (const name of ["client_id", "redirect_uri"]) {
    if (duplicated.includes(name)) {
      return { kind: "show-error", error: err("invalid_request", `${name} must have a single value`) };
    }
  }
  if (!params.clientId) return { kind: "show-error", error: err("invalid_request", "client_id is required") };
  const client = await ctx.store.getClient(params.clientId);
  if (!client) return { kind: "show-error", error: err("invalid_client", "Unknown client_id") };
  const redirectUriExplicit = params.redirectUri !== undefined;
  const redirectUri = params.redirectUri ?? defaultRedirectUri(client.redirectUris);
  if (redirectUri === undefined || !matchesExactly(redirectUri, client.redirectUris)) {
    return {
      kind: "show-error",
      error: err("invalid_request", "redirect_uri is not registered for this client"),
    };
  }
  const state = params.state;
  const redirectError = (code: OAuthError["code"], description: string): AuthorizationCheck => ({
    kind: "redirect-error",
    redirectUri,
    state,
    error: err(code, description),
  });
  if (duplicated.length > 0) return redirectError("invalid_request", `${duplicated[0]} must have a single value`);
  if (params.responseType !== "code") {
    return params.responseType === undefined
      ? redirectError("invalid_request", "response_type is required")
      : redirectError("unsupported_response_type", "response_type must be code");
  }
  if (!params.codeChallenge) return redirectError("invalid_request", "code_challenge is required (PKCE S256)");
  if (!isSupportedChallengeMethod(params.codeChallengeMethod)) {
    return redirectError("invalid_request", "code_challenge_method must be S256");
  }
  if (!isWellFormedChallenge(params.codeChallenge)) {
    return redirectError("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier");
  }
  const scopes = parseScope(params.scope);
  if (scopes.length === 0) return redirectError("invalid_scope", "scope is required");
  if (!isSubset(scopes, client.scopes)) {
    return redirectError(
      "invalid_scope",
      `Scopes not allowed for this client: ${missingScopes(scopes, client.scopes).join(" ")}`,
    );
  }
  return {
    kind: "valid",
    request: { client, redirectUri, redirectUriExplicit, scopes, state, codeChallenge: params.codeChallenge },
  };
}

export interface CalAuthorization {
  client: ClientRecord;
  /** What the user consents to: Cal.com's request names no scope, so every scope the client registered. */
  scopes: readonly string[];
}

/**
 * Checks a Cal.com authorization: the client must exist (`invalid_client`) and the redirect URI
 * match one it registered, globs included (`invalid_request`). The dialect words each refusal.
 */
export async function checkCalAuthorization(
  ctx: CoreContext,
  clientId: string,
  redirectUri: string,
): Promise<Result<CalAuthorization>> {
  const client = await ctx.store.getClient(clientId);
  if (!client) return fail("invalid_client", "Unknown client_id");
  if (!matchesWithGlobs(redirectUri, client.redirectUris)) {
    return fail("invalid_request", "redirect_uri is not registered for this client");
  }
  return ok({ client, scopes: client.scopes });
}

export async function hasConsent(
  ctx: CoreContext,
  clientId: string,
  userId: string,
  scopes: readonly string[],
): Promise<boolean> {
  const consent = await ctx.store.getConsent(clientId, userId);
  return consent !== undefined && isSubset(scopes, consent.scopes);
}

/**
 * Holds the user's row, then the client's: the order every writer of a lineage or consent, and a
 * disconnect, takes them in, before any consent, grant or code; deleting a user or a client takes
 * its row first. False when either is gone.
 */
export async function holdUserAndClient(tx: Store, userId: string, clientId: string): Promise<boolean> {
  return (await tx.holdUser(userId)) && (await tx.holdClient(clientId));
}

/**
 * Records consent, adding to whatever the user already consented to for this client. The row is
 * held before it is read, so two approvals at once (two tabs, two instances) both count. False,
 * with nothing written, when the user or the client no longer exists (deleted while the user was
 * approving).
 */
export async function recordConsent(
  ctx: CoreContext,
  clientId: string,
  userId: string,
  scopes: readonly string[],
): Promise<boolean> {
  return ctx.store.transaction(async (tx) => {
    if (!(await holdUserAndClient(tx, userId, clientId))) return false;
    await tx.holdConsent(clientId, userId, ctx.now());
    const previous = await tx.getConsent(clientId, userId);
    const merged = [...new Set([...(previous?.scopes ?? []), ...scopes])];
    await tx.saveConsent({ clientId, userId, scopes: merged, updatedAt: ctx.now() });
    return true;
  });
}

export interface CodeIssue {
  clientId: string;
  userId: string;
  scopes: readonly string[];
  redirectUri: string;
  redirectUriExplicit: boolean;
  /** Null only for dialects without PKCE; such a code then refuses any code_verifier. */
  codeChallenge: string | null;
}

/**
 * A lineage id that sorts by creation time (a hex millisecond clock, then 96 random bits), so the
 * indexes on grant ids grow at their end: a new lineage's rows land on pages the last commit
 * already wrote, not on random ones. Grant ids never leave the server.
 */
export function newGrantId(now: number): string {
  return orderedToken(now, 12);
}

/**
 * Starts a lineage and issues its single-use authorization code. Returns the code, or undefined,
 * with nothing written, when the user or the client no longer exists.
 */
export async function issueAuthorizationCode(ctx: CoreContext, issue: CodeIssue): Promise<string | undefined> {
  return ctx.store.transaction(async (tx) => {
    // Holding the user and the client means a deletion of either waits for this lineage and
    // removes it, or has already happened and nothing is written: no code outlives them.
    if (!(await holdUserAndClient(tx, issue.userId, issue.clientId))) return undefined;
    return writeLineage({ ...ctx, store: tx }, issue);
  });
}

/** Writes a new lineage and its code, in a transaction that holds the user's and the client's rows already. */
async function writeLineage(ctx: CoreContext, issue: CodeIssue): Promise<string> {
  const now = ctx.now();
  const code = orderedToken(now);
  const grantId = newGrantId(now);
  await ctx.store.createGrant({
    id: grantId,
    clientId: issue.clientId,
    userId: issue.userId,
    scopes: [...issue.scopes],
    createdAt: now,
    revokedAt: null,
  });
  await ctx.store.createAuthorizationCode({
    hash: ctx.keys.hashToken(code),
    grantId,
    clientId: issue.clientId,
    userId: issue.userId,
    redirectUri: issue.redirectUri,
    redirectUriExplicit: issue.redirectUriExplicit,
    codeChallenge: issue.codeChallenge,
    scopes: [...issue.scopes],
    createdAt: now,
    expiresAt: now + ctx.codeTtlMs,
    consumedAt: null,
  });
  return code;
}

export type ApprovalOutcome =
  | { kind: "issued"; code: string }
  /** The consent asked for is not (or no longer) there: the user must be asked. Nothing was written. */
  | { kind: "ask" }
  /** The user or the client no longer exists; nothing was written. */
  | { kind: "gone" };

/** Thrown inside a transaction that must write nothing, so that what it held or placed rolls back. */
class Unissued<Outcome> extends Error {
  constructor(readonly outcome: Outcome) {
    super("unissued");
  }
}

/** Runs `work`, answering the outcome it threw as Unissued once its transaction has rolled back. */
async function unlessUnissued<Outcome>(work: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Unissued) return error.outcome as Outcome;
    throw error;
  }
}

/**
 * Issues a code under consent the user gave before, checked in the transaction that writes the
 * lineage, with the consent's row held: withdrawing the consent (which deletes it before revoking
 * lineages) either waits for this lineage and revokes it too, or comes first, and the user is
 * asked again. Without that, a lineage could start after its consent was withdrawn and live on,
 * listed nowhere.
 */
export async function issueUnderConsent(ctx: CoreContext, issue: CodeIssue): Promise<ApprovalOutcome> {
  return unlessUnissued(() =>
    ctx.store.transaction(async (tx): Promise<ApprovalOutcome> => {
      if (!(await holdUserAndClient(tx, issue.userId, issue.clientId))) return { kind: "gone" };
      await tx.holdConsent(issue.clientId, issue.userId, ctx.now());
      const consent = await tx.getConsent(issue.clientId, issue.userId);
      // The hold may have placed an empty consent: rolled back with the rest.
      if (!consent || !isSubset(issue.scopes, consent.scopes)) throw new Unissued<ApprovalOutcome>({ kind: "ask" });
      return { kind: "issued", code: await writeLineage({ ...ctx, store: tx }, issue) };
    }),
  );
}

/** Records the consent just given and issues the code under it, together or not at all. */
export async function consentAndIssue(
  ctx: CoreContext,
  issue: CodeIssue,
): Promise<Exclude<ApprovalOutcome, { kind: "ask" }>> {
  return ctx.store.transaction(async (tx) => {
    const inTransaction = { ...ctx, store: tx };
    // recordConsent holds the user's and the client's rows: the lineage is written under them.
    if (!(await recordConsent(inTransaction, issue.clientId, issue.userId, issue.scopes))) return { kind: "gone" };
    return { kind: "issued", code: await writeLineage(inTransaction, issue) };
  });
}

export type SoleCodeOutcome =
  | { kind: "issued"; code: string }
  /** The user already holds an unspent code for this client; nothing was written. */
  | { kind: "outstanding" }
  /** The user or the client no longer exists; nothing was written. */
  | { kind: "gone" };

/**
 * Cal.com's rule: a user holds at most one unspent code per client. Records consent and issues the
 * code in one transaction, unless a code is outstanding; then nothing is written. Two concurrent
 * calls for the same user and client issue one code between them. Only codes of this flow count,
 * which carry no PKCE challenge: a cross-site link to the Canva page can have a code issued for a
 * user who consented before, and it must not block this flow until it expires.
 */
export async function consentAndIssueSoleCode(ctx: CoreContext, issue: CodeIssue): Promise<SoleCodeOutcome> {
  return unlessUnissued(() =>
    ctx.store.transaction(async (tx): Promise<SoleCodeOutcome> => {
      const inTransaction = { ...ctx, store: tx };
      // Consent first: it holds the user's row and the consent's, so a concurrent call for the same user
      // and client waits there until this one commits, and its check below then sees the code issued here.
      if (!(await recordConsent(inTransaction, issue.clientId, issue.userId, issue.scopes))) {
        return { kind: "gone" };
      }
      if (await tx.hasOutstandingCodeWithoutPkce(issue.clientId, issue.userId, ctx.now())) {
        throw new Unissued<SoleCodeOutcome>({ kind: "outstanding" });
      }
      // The user's and the client's rows are held since recordConsent: neither can have gone in between.
      return { kind: "issued", code: await writeLineage(inTransaction, issue) };
    }),
  );
}
