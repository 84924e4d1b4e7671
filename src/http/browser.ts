/** What pages and the Cal.com dialect need to know about the browser behind a request: its session and CSRF binding. */
import type { FastifyReply, FastifyRequest } from "fastify";
import { constantTimeEqual, randomToken } from "../core/crypto.js";
import { endSession, findSession, startSession } from "../core/sessions.js";
import { rememberDevice, trustedDevice } from "../core/trusted-devices.js";
import { checkCredentials, normalizeEmail } from "../core/users.js";
import type { UserRecord } from "../store/types.js";
import { CSRF_COOKIE, clearCookie, DEVICE_COOKIE, readCookie, SESSION_COOKIE, setCookie } from "./cookies.js";
import type { AppDeps } from "./deps.js";
import { type FormBody, firstValue } from "./form-body.js";
import { logSignInRefusal } from "./security-events.js";

/** Cookie attributes that follow the issuer: Secure when it is served over https. */
function cookieOptions(deps: AppDeps) {
  return { secure: deps.config.issuer.startsWith("https:") };
}

/**
 * Over https the cookies carry the `__Host-` prefix: a browser then keeps only such a cookie set
 * by this very host over https, so a sibling subdomain or a plain-http attacker cannot plant one.
 */
function cookieName(deps: AppDeps, name: string): string {
  return cookieOptions(deps).secure ? `__Host-${name}` : name;
}

export interface SignedIn {
  sessionId: string;
  user: UserRecord;
}

export async function signedInUser(deps: AppDeps, request: FastifyRequest): Promise<SignedIn | undefined> {
  const sessionId = readCookie(request, cookieName(deps, SESSION_COOKIE));
  const session = await findSession(deps.core, sessionId);
  if (!session || !sessionId) return undefined;
  const user = await deps.core.store.getUserById(session.userId);
  return user && { sessionId, user };
}

/**
 * A form posted by a page of another site, or of a sibling subdomain, as the browser says in
 * Sec-Fetch-Site. Such a post carries no SameSite=Lax cookie, so answered as usual it would look
 * like a first visit, and the answer's cookies would replace this browser's (its CSRF binding, or
 * its session cookie cleared by a forged sign-out). Refused before it is read; browsers that send
 * no such header still meet the CSRF tokens.
 */
export function postedFromAnotherSite(request: FastifyRequest): boolean {
  const site = request.headers["sec-fetch-site"];
  return site === "cross-site" || site === "same-site";
}

export function hasCsrfBinding(deps: AppDeps, request: FastifyRequest): boolean {
  return readCookie(request, cookieName(deps, CSRF_COOKIE)) !== undefined;
}

/** The browser's CSRF binding: a random cookie, set on first sight. */
export function csrfBinding(deps: AppDeps, request: FastifyRequest, reply: FastifyReply): string {
  return readCookie(request, cookieName(deps, CSRF_COOKIE)) ?? newCsrfBinding(deps, reply);
}

function newCsrfBinding(deps: AppDeps, reply: FastifyReply): string {
  const value = randomToken(32);
  setCookie(reply, cookieName(deps, CSRF_COOKIE), value, cookieOptions(deps));
  return value;
}

/**
 * What a signed-in form is for, tied to the session: a token minted for another session (an
 * attacker's own, under a binding cookie they planted) is worthless for this one.
 */
export function sessionPurpose(purpose: string, signedIn: SignedIn): string {
  return `${purpose}\u0000${signedIn.sessionId}`;
}

/**
 * A form's CSRF token: an HMAC of the browser binding and what the form is for, so a token
 * lifted from one form (or one browser) is worthless for any other.
 */
export function csrfToken(deps: AppDeps, binding: string, purpose: string): string {
  return deps.core.keys.csrfToken(`${purpose}\u0000${binding}`);
}

export function csrfValid(deps: AppDeps, request: FastifyRequest, form: FormBody, purpose: string): boolean {
  const binding = readCookie(request, cookieName(deps, CSRF_COOKIE));
  const presented = form.get("csrf_token");
  if (!binding || presented?.length !== 1 || !presented[0]) return false;
  return constantTimeEqual(presented[0], csrfToken(deps, binding, purpose));
}

export type SignInOutcome =
  | { ok: true; user: UserRecord }
  | { ok: false; status: number; message: string; email: string };

/** How long a browser stays trusted by the accounts signed in from it, renewed at each sign-in. */
const TRUSTED_DEVICE_SECONDS = 365 * 24 * 3600;

/**
 * Checks a submitted email and password, slowing down repeated failures, and starts a session. A
 * browser the account trusts (it signed in before) has failures of its own, so others' guessing
 * does not lock it out.
 */
export async function signIn(
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  form: FormBody,
): Promise<SignInOutcome> {
  const email = normalizeEmail(firstValue(form, "email") ?? "");
  const password = firstValue(form, "password") ?? "";
  const deviceCookie = readCookie(request, cookieName(deps, DEVICE_COOKIE));
  const device = trustedDevice(deps.core.keys, deviceCookie, email);
  const refusal = await deps.signInThrottle.attempt(email, request.ip, device);
  if (refusal) {
    if (refusal.firstInWindow) await logSignInRefusal(deps, request, email, refusal);
    const wait = Math.ceil(refusal.retryAfterMs / 1000);
    reply.header("retry-after", String(wait));
    const message = `Too many failed sign-in attempts. Try again in ${wait} seconds.`;
    return { ok: false, status: 429, message, email };
  }
  const user = email && password ? await checkCredentials(deps.core, email, password) : undefined;
  // No session either when the password changed while it was being checked: it is no longer the password.
  const sessionId = user && (await startSession(deps.core, user, deps.config.sessionTtlMs));
  if (!user || !sessionId) return { ok: false, status: 401, message: "Incorrect email or password.", email };
  await deps.signInThrottle.succeeded(email, request.ip, device);
  setCookie(reply, cookieName(deps, DEVICE_COOKIE), rememberDevice(deps.core.keys, deviceCookie, email), {
    ...cookieOptions(deps),
    maxAgeSeconds: TRUSTED_DEVICE_SECONDS,
  });
  const previous = readCookie(request, cookieName(deps, SESSION_COOKIE));
  if (previous) await endSession(deps.core, previous);
  // A binding from before sign-in may have been planted; the signed-in browser gets one of its own.
  newCsrfBinding(deps, reply);
  setCookie(reply, cookieName(deps, SESSION_COOKIE), sessionId, {
    ...cookieOptions(deps),
    maxAgeSeconds: Math.floor(deps.config.sessionTtlMs / 1000),
  });
  return { ok: true, user };
}

export async function signOut(deps: AppDeps, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const sessionId = readCookie(request, cookieName(deps, SESSION_COOKIE));
  // With no session cookie sent there is nothing to clear, and a forged request could clear one the browser withheld.
  if (sessionId === undefined) return;
  if (sessionId) await endSession(deps.core, sessionId);
  clearCookie(reply, cookieName(deps, SESSION_COOKIE), cookieOptions(deps));
}
