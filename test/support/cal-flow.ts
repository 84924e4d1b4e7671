import assert from "node:assert/strict";
import type { LightMyRequestResponse } from "fastify";
import { startSession } from "../../src/core/sessions.js";
import { type Harness, REDIRECT_URI, type TestClient, type TestUser } from "./harness.js";

export const ISSUER_ORIGIN = "http://keyward.test";
export const JSON_TYPE = { "content-type": "application/json" };

export interface CalKeys {
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string;
  refreshTokenExpiresAt: number;
}

/** A session cookie for `user`, as keyward's sign-in page would set it. */
export async function sessionCookie(h: Harness, user: TestUser): Promise<string> {
  const stored = await h.runtime.core.store.getUserById(user.userId);
  const id = stored && (await startSession(h.runtime.core, stored, h.runtime.config.sessionTtlMs));
  if (!id) throw new Error(`no session for ${user.userId}`);
  return `keyward_session=${id}`;
}

/** Signs in through the real /login form and returns the cookies the browser would then send. */
export async function signInThroughLoginPage(h: Harness, user: TestUser): Promise<string> {
  const page = await h.app.inject({ method: "GET", url: "/login" });
  const csrfCookie = /keyward_csrf=([^;]+)/.exec(String(page.headers["set-cookie"]))?.[1];
  const csrfToken = /name="csrf_token" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(csrfCookie && csrfToken, "the sign-in page sets a CSRF cookie and field");
  const res = await h.app.inject({
    method: "POST",
    url: "/login",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `keyward_csrf=${csrfCookie}` },
    payload: new URLSearchParams({ csrf_token: csrfToken, email: user.email, password: user.password }).toString(),
  });
  assert.equal(res.statusCode, 303);
  const session = /keyward_session=([^;]+)/.exec(String(res.headers["set-cookie"]))?.[1];
  assert.ok(session, "signing in sets the session cookie");
  return `keyward_session=${session}`;
}

export function authorize(
  h: Harness,
  clientId: string,
  options: { cookie?: string; redirectUri?: string; prefix?: string; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: "POST",
    url: `${options.prefix ?? "/v2"}/oauth/${clientId}/authorize`,
    headers: { ...JSON_TYPE, ...(options.cookie ? { cookie: options.cookie } : {}), ...options.headers },
    payload: JSON.stringify({ redirectUri: options.redirectUri ?? REDIRECT_URI }),
  });
}

export function codeFrom(res: LightMyRequestResponse): string {
  assert.equal(res.statusCode, 302, res.body);
  const code = new URL(String(res.headers.location)).searchParams.get("code");
  assert.ok(code, "the redirect carries a code");
  return code;
}

export function exchangeCode(
  h: Harness,
  client: TestClient,
  code: string,
  options: { prefix?: string; clientId?: string; clientSecret?: string } = {},
): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: "POST",
    url: `${options.prefix ?? "/v2"}/oauth/${options.clientId ?? client.clientId}/exchange`,
    headers: { ...JSON_TYPE, authorization: `Bearer ${code}` },
    payload: JSON.stringify({ clientSecret: options.clientSecret ?? client.clientSecret }),
  });
}

export function refresh(
  h: Harness,
  client: TestClient,
  refreshToken: string,
  options: { prefix?: string; secret?: string } = {},
): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: "POST",
    url: `${options.prefix ?? "/v2"}/oauth/${client.clientId}/refresh`,
    headers: { ...JSON_TYPE, "x-cal-secret-key": options.secret ?? client.clientSecret },
    payload: JSON.stringify({ refreshToken }),
  });
}

export function keysFrom(res: LightMyRequestResponse): CalKeys {
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.status, "success");
  return body.data as CalKeys;
}

/** Runs authorize and exchange for a fresh client and user. */
export async function obtainKeys(h: Harness, existing?: TestClient) {
  const client = existing ?? (await h.createClient());
  const user = await h.createUser();
  const cookie = await sessionCookie(h, user);
  const code = codeFrom(await authorize(h, client.clientId, { cookie }));
  const keys = keysFrom(await exchangeCode(h, client, code));
  return { client, user, cookie, code, keys };
}

/** Asserts Cal.com's error envelope and returns its `error` member. */
export function assertCalError(res: LightMyRequestResponse, status: number, code: string, message?: string | RegExp) {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  const body = res.json();
  assert.equal(body.status, "error");
  assert.ok(!Number.isNaN(Date.parse(body.timestamp)), "timestamp is ISO-8601");
  assert.equal(body.timestamp, new Date(body.timestamp).toISOString());
  assert.equal(body.path, res.raw.req.url);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
  assert.equal(typeof body.error.details, "object");
  if (typeof message === "string") assert.equal(body.error.message, message);
  else if (message) assert.match(body.error.message, message);
  assert.doesNotMatch(res.body, /at .+\.js:\d+/, "no stack trace");
  return body.error as { code: string; message: string; details: Record<string, unknown> };
}

/** RFC 7662 introspection at the Canva dialect's endpoint, with the same client credentials. */
export async function introspect(h: Harness, client: TestClient, token: string): Promise<{ active: boolean }> {
  const res = await h.app.inject({
    method: "POST",
    url: "/rest/v1/oauth/introspect",
    headers: { authorization: client.basic, "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ token }).toString(),
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}
