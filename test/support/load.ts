import { authorize, CookieJar, pkce, request } from "./browserless.js";

/**
 * A mixed OAuth workload against a running keyward, keeping a ledger of what the server
 * acknowledged: every token answered with a 200, every token it consumed or revoked with a 200,
 * and the lineages whose last request got no answer (their state is unknown, so never checked).
 */
export interface Ledger {
  /** Tokens acknowledged and, as far as the client knows, still valid. */
  live: Set<string>;
  /** Tokens whose consumption or revocation was acknowledged. */
  dead: Set<string>;
  /** Tokens whose lineage had a request in flight when the answer was lost. */
  uncertain: Set<string>;
  requests: number;
  /** Responses other than the expected status, with what came back. */
  unexpected: string[];
}

export function newLedger(): Ledger {
  return { live: new Set(), dead: new Set(), uncertain: new Set(), requests: 0, unexpected: [] };
}

export interface LoadTarget {
  url: string;
  clientId: string;
  basic: string;
  redirectUri: string;
  /** A jar signed in as a user who has already consented to `scope`. */
  jar: CookieJar;
  scope: string;
}

interface Lineage {
  tokens: string[];
  refresh: string;
  access: string;
}

async function post(target: LoadTarget, path: string, body: Record<string, string>) {
  const res = await fetch(`${target.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: target.basic },
    body: new URLSearchParams(body).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** One worker: authorize, exchange, refresh a few times, sometimes revoke; until `stop()` says so. */
async function worker(target: LoadTarget, ledger: Ledger, stop: () => boolean, revokeEvery: number): Promise<void> {
  let round = 0;
  while (!stop()) {
    round++;
    let lineage: Lineage | undefined;
    let inFlight: string[] = [];
    try {
      const { verifier, challenge } = pkce();
      const query = new URLSearchParams({
        response_type: "code",
        client_id: target.clientId,
        redirect_uri: target.redirectUri,
        scope: target.scope,
        code_challenge: challenge,
        code_challenge_method: "S256",
      });
      ledger.requests++;
      const page = await request(target.jar, `${target.url}/api/oauth/authorize?${query}`);
      const code = page.location?.searchParams.get("code");
      if (page.status !== 302 || !code) {
        ledger.unexpected.push(`authorize ${page.status}`);
        continue;
      }
      ledger.requests++;
      const exchanged = await post(target, "/rest/v1/oauth/token", {
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: target.redirectUri,
      });
      if (exchanged.status !== 200) {
        ledger.unexpected.push(`exchange ${exchanged.status} ${JSON.stringify(exchanged.body)}`);
        continue;
      }
      const first = exchanged.body;
      lineage = {
        tokens: [first.access_token ?? "", first.refresh_token ?? ""],
        refresh: first.refresh_token ?? "",
        access: first.access_token ?? "",
      };
      for (const t of lineage.tokens) ledger.live.add(t);
      for (let i = 0; i < 3 && !stop(); i++) {
        inFlight = lineage.tokens;
        ledger.requests++;
        const refreshed = await post(target, "/rest/v1/oauth/token", {
          grant_type: "refresh_token",
          refresh_token: lineage.refresh,
        });
        inFlight = [];
        if (refreshed.status !== 200) {
          ledger.unexpected.push(`refresh ${refreshed.status} ${JSON.stringify(refreshed.body)}`);
          break;
        }
        ledger.live.delete(lineage.refresh);
        ledger.dead.add(lineage.refresh);
        lineage.refresh = refreshed.body.refresh_token ?? "";
        lineage.access = refreshed.body.access_token ?? "";
        lineage.tokens.push(lineage.access, lineage.refresh);
        ledger.live.add(lineage.access);
        ledger.live.add(lineage.refresh);
      }
      if (round % revokeEvery === 0 && !stop()) {
        inFlight = lineage.tokens;
        ledger.requests++;
        const revoked = await post(target, "/rest/v1/oauth/revoke", { token: lineage.access });
        inFlight = [];
        if (revoked.status !== 200) {
          ledger.unexpected.push(`revoke ${revoked.status}`);
          continue;
        }
        for (const t of lineage.tokens) {
          ledger.live.delete(t);
          ledger.dead.add(t);
        }
      }
    } catch {
      // The connection died with the request in flight: what it touched is of unknown state.
      for (const t of inFlight) {
        ledger.live.delete(t);
        ledger.dead.delete(t);
        ledger.uncertain.add(t);
      }
      if (stop()) return;
    }
  }
}

export async function runLoad(
  target: LoadTarget,
  ledger: Ledger,
  options: { concurrency: number; stop: () => boolean; revokeEvery?: number },
): Promise<void> {
  await Promise.all(
    Array.from({ length: options.concurrency }, () => worker(target, ledger, options.stop, options.revokeEvery ?? 4)),
  );
}

/** Introspects every ledger token; returns the tokens whose state disagrees with the ledger. */
export async function verifyLedger(target: LoadTarget, ledger: Ledger): Promise<{ checked: number; wrong: string[] }> {
  const wrong: string[] = [];
  const entries: [string, boolean][] = [
    ...[...ledger.live].map((t): [string, boolean] => [t, true]),
    ...[...ledger.dead].map((t): [string, boolean] => [t, false]),
  ];
  for (let i = 0; i < entries.length; i += 20) {
    await Promise.all(
      entries.slice(i, i + 20).map(async ([token, expected]) => {
        const res = await post(target, "/rest/v1/oauth/introspect", { token });
        const active = (res.body as unknown as { active?: boolean }).active;
        if (res.status !== 200 || active !== expected) {
          wrong.push(
            `${expected ? "acknowledged" : "consumed or revoked"} token introspected ${JSON.stringify(res.body)}`,
          );
        }
      }),
    );
  }
  return { checked: entries.length, wrong };
}

/** Signs in and consents once, so later authorizations redirect straight back with a code. */
export async function consentedJar(
  url: string,
  clientId: string,
  redirectUri: string,
  scope: string,
  user: { email: string; password: string },
): Promise<CookieJar> {
  const jar = new CookieJar();
  const { challenge } = pkce();
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  await authorize(`${url}/api/oauth/authorize?${query}`, user, { jar });
  return jar;
}
