import { createHash, randomBytes } from "node:crypto";
import { runCli } from "./server-process.js";

/**
 * Drives keyward's authorization pages the way a browser would, with plain fetch: a cookie jar,
 * the hidden csrf_token read from each page, and redirects inspected rather than followed.
 */

/** Name/value cookies from Set-Cookie, sent back on every request (all tests talk to one origin). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Remembers every cookie the response sets; Max-Age=0 removes one. */
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (expired || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

function unescapeHtml(value: string): string {
  return value
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

/** The value of `<input name="...">` in a page, or undefined. */
export function inputValue(html: string, name: string): string | undefined {
  for (const match of html.matchAll(/<input\b[^>]*>/g)) {
    const tag = match[0];
    if (!new RegExp(`\\bname="${name}"`).test(tag)) continue;
    const value = /\bvalue="([^"]*)"/.exec(tag);
    return value ? unescapeHtml(value[1] ?? "") : "";
  }
  return undefined;
}

export interface PageResponse {
  status: number;
  headers: Headers;
  /** The Location header resolved against the request URL, for redirects. */
  location: URL | undefined;
  html: string;
}

/** One request with the jar's cookies; redirects are returned, not followed. */
export async function request(jar: CookieJar, url: URL | string, form?: Record<string, string>): Promise<PageResponse> {
  const headers: Record<string, string> = {};
  const cookie = jar.header();
  if (cookie) headers.cookie = cookie;
  if (form) headers["content-type"] = "application/x-www-form-urlencoded";
  const response = await fetch(url, {
    method: form ? "POST" : "GET",
    headers,
    body: form ? new URLSearchParams(form).toString() : undefined,
    redirect: "manual",
  });
  jar.store(response);
  const locationHeader = response.headers.get("location");
  return {
    status: response.status,
    headers: response.headers,
    location: locationHeader === null ? undefined : new URL(locationHeader, url),
    html: await response.text(),
  };
}

export function csrfTokenOf(page: PageResponse): string {
  const token = inputValue(page.html, "csrf_token");
  if (!token) throw new Error(`no csrf_token on the page (status ${page.status}):\n${page.html}`);
  return token;
}

export interface AuthorizeOutcome {
  /** Where the server finally sent the browser: the client's redirect URI with its parameters. */
  redirect: URL;
  /** Whether the consent page was shown on the way. */
  consentShown: boolean;
  /** The consent page's HTML, when it was shown. */
  consentHtml?: string;
}

/**
 * Opens an authorization URL, signs in if asked, and answers the consent page if shown.
 * Fails loudly on any page it does not expect.
 */
export async function authorize(
  authorizationUrl: URL | string,
  user: { email: string; password: string },
  options: { jar?: CookieJar; decision?: "allow" | "deny" } = {},
): Promise<AuthorizeOutcome> {
  const jar = options.jar ?? new CookieJar();
  let page = await request(jar, authorizationUrl);
  if (page.status === 200 && inputValue(page.html, "action") === "sign_in") {
    const signedIn = await request(jar, authorizationUrl, {
      csrf_token: csrfTokenOf(page),
      action: "sign_in",
      email: user.email,
      password: user.password,
    });
    if (signedIn.status !== 303 || !signedIn.location) {
      throw new Error(`sign-in failed with ${signedIn.status}:\n${signedIn.html}`);
    }
    page = await request(jar, signedIn.location);
  }
  if (page.status === 302 && page.location) return { redirect: page.location, consentShown: false };
  if (page.status !== 200 || inputValue(page.html, "action") !== "consent") {
    throw new Error(`expected the consent page, got ${page.status}:\n${page.html}`);
  }
  const answered = await request(jar, authorizationUrl, {
    csrf_token: csrfTokenOf(page),
    action: "consent",
    decision: options.decision ?? "allow",
  });
  if (answered.status !== 303 || !answered.location) {
    throw new Error(`consent answer failed with ${answered.status}:\n${answered.html}`);
  }
  return { redirect: answered.location, consentShown: true, consentHtml: page.html };
}

/** An RFC 7636 verifier (43 characters) and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export interface CliClient {
  clientId: string;
  clientSecret: string;
  /** `Basic base64(client_id:client_secret)`. */
  basic: string;
}

function cliJson(args: string[], env: Record<string, string>): Record<string, unknown> {
  const result = runCli([...args, "--json"], env);
  if (result.status !== 0) throw new Error(`keyward ${args.join(" ")} exited ${result.status}:\n${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** `keyward clients create ... --json` */
export function createClientWithCli(
  env: Record<string, string>,
  options: { name: string; redirectUris: string[]; scope: string },
): CliClient {
  const args = ["clients", "create", "--name", options.name, "--scope", options.scope];
  for (const uri of options.redirectUris) args.push("--redirect-uri", uri);
  const out = cliJson(args, env);
  const clientId = String(out.client_id);
  const clientSecret = String(out.client_secret);
  return {
    clientId,
    clientSecret,
    basic: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
  };
}

/** `keyward users create ... --json`; returns the user's internal id with the credentials. */
export function createUserWithCli(
  env: Record<string, string>,
  options: { email: string; password: string; displayName?: string },
): { userId: string; email: string; password: string } {
  const args = ["users", "create", "--email", options.email, "--password", options.password];
  if (options.displayName) args.push("--display-name", options.displayName);
  const out = cliJson(args, env);
  return { userId: String(out.user_id), email: options.email, password: options.password };
}

/** `keyward keys rotate --json`; returns the new key id. */
export function rotateKeysWithCli(env: Record<string, string>): string {
  return String(cliJson(["keys", "rotate"], env).kid);
}
