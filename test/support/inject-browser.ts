import type { LightMyRequestResponse } from "fastify";
import { FORM, form, type Harness, pkcePair, REDIRECT_URI, type TestUser } from "./harness.js";

/** A browser's cookies, enough to walk keyward's pages in-process with `app.inject`. */
export class InjectBrowser {
  readonly cookies = new Map<string, string>();

  /** `remoteAddress` is where its requests come from, for tests that need their own address's limits. */
  constructor(
    private readonly h: Harness,
    private readonly remoteAddress?: string,
  ) {}

  private absorb(setCookie: string | string[] | undefined): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      if (/Max-Age=0/.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await this.h.app.inject({
      method: "GET",
      url,
      headers: { cookie: this.header(), ...headers },
      remoteAddress: this.remoteAddress,
    });
    this.absorb(res.headers["set-cookie"]);
    return res;
  }

  async post(
    url: string,
    body: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<LightMyRequestResponse> {
    const res = await this.h.app.inject({
      method: "POST",
      url,
      headers: { ...FORM, cookie: this.header(), ...headers },
      payload: form(body),
      remoteAddress: this.remoteAddress,
    });
    this.absorb(res.headers["set-cookie"]);
    return res;
  }

  /** Shows the page at `url`, then submits its sign-in form. */
  async signIn(url: string, who: TestUser): Promise<LightMyRequestResponse> {
    const page = await this.get(url);
    return this.post(url, {
      csrf_token: csrfOf(page.body),
      action: "sign_in",
      email: who.email,
      password: who.password,
    });
  }

  /** Signs in if needed and allows the request; returns the final redirect. */
  async authorize(url: string, who: TestUser): Promise<LightMyRequestResponse> {
    if (!this.cookies.has("keyward_session")) await this.signIn(url, who);
    const page = await this.get(url);
    if (page.statusCode === 302) return page;
    return this.post(url, { csrf_token: csrfOf(page.body), action: "consent", decision: "allow" });
  }
}

export const csrfOf = (html: string): string => /name="csrf_token" value="([^"]+)"/.exec(html)?.[1] ?? "";

/** An authorization URL for `clientId`, with fresh PKCE unless overridden. */
export function authorizeUrl(clientId: string, overrides: Record<string, string | undefined> = {}): string {
  const { challenge } = pkcePair();
  const params: Record<string, string | undefined> = {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: "profile:read design:meta:read",
    state: "st-123",
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...overrides,
  };
  const defined = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return `/api/oauth/authorize?${new URLSearchParams(defined)}`;
}

export function redirectParams(location: string | string[] | number | undefined): {
  base: string;
  params: URLSearchParams;
} {
  if (typeof location !== "string") throw new Error("expected a Location header");
  const url = new URL(location);
  return { base: `${url.origin}${url.pathname}`, params: url.searchParams };
}
