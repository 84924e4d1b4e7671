import { form, REDIRECT_URI } from "./fixtures.js";
import { Pool } from "./pool.js";
import type { Target } from "./targets/target.js";

export type OperationName = "exchange" | "refresh" | "introspect" | "revoke";

/** One connection's view of a workload: it builds each request body and sees each response. */
export interface Connection {
  body(): string;
  /** Returns why the response is not what the operation must answer, or undefined when it is. */
  response(status: number, body: string): string | undefined;
}

export interface Workload {
  path: string;
  connection(): Connection;
  /** The single-use pool the workload draws from, if any. */
  pool?: Pool<unknown>;
}

export interface Operation {
  name: OperationName;
  /** Whether every request consumes one pre-minted item (so pools are sized from the request rate). */
  consumesPerRequest: boolean;
  prepare(target: Target, size: number): Promise<Workload>;
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function tokenResponseProblem(status: number, body: string): string | undefined {
  if (status < 200 || status >= 300) return `HTTP ${status}`;
  const json = parseJson(body);
  if (typeof json?.access_token !== "string" || typeof json.refresh_token !== "string") {
    return "200 without access_token and refresh_token";
  }
  return undefined;
}

const statusProblem = (status: number) => (status >= 200 && status < 300 ? undefined : `HTTP ${status}`);

const exchange: Operation = {
  name: "exchange",
  consumesPerRequest: true,
  async prepare(target, size) {
    const pool = new Pool(await target.mintCodes(size));
    return {
      path: target.paths.token,
      pool,
      connection: () => ({
        body() {
          const { code, verifier } = pool.take();
          return form({
            grant_type: "authorization_code",
            code,
            code_verifier: verifier,
            redirect_uri: REDIRECT_URI,
          });
        },
        response: tokenResponseProblem,
      }),
    };
  },
};

/** Each connection owns a chain: every request presents the refresh token the previous response returned. */
const refresh: Operation = {
  name: "refresh",
  consumesPerRequest: false,
  async prepare(target, size) {
    const seeds = new Pool(await target.mintRefreshTokens(size));
    return {
      path: target.paths.token,
      pool: seeds,
      connection() {
        let current = seeds.take();
        return {
          body: () => form({ grant_type: "refresh_token", refresh_token: current }),
          response(status, body) {
            const problem = tokenResponseProblem(status, body);
            // A broken chain cannot go on: start a fresh one so one failure does not fail every later request.
            current = problem ? seeds.take() : ((parseJson(body)?.refresh_token as string) ?? current);
            return problem;
          },
        };
      },
    };
  },
};

const introspect: Operation = {
  name: "introspect",
  consumesPerRequest: false,
  async prepare(target) {
    const body = form({ token: await target.mintAccessToken() });
    return {
      path: target.paths.introspect,
      connection: () => ({
        body: () => body,
        response: (status, text) =>
          statusProblem(status) ?? (parseJson(text)?.active === true ? undefined : "200 with active false"),
      }),
    };
  },
};

const revoke: Operation = {
  name: "revoke",
  consumesPerRequest: true,
  async prepare(target, size) {
    const pool = new Pool(await target.mintRefreshTokens(size));
    return {
      path: target.paths.revoke,
      pool,
      connection: () => ({ body: () => form({ token: pool.take() }), response: statusProblem }),
    };
  },
};

export const OPERATIONS: readonly Operation[] = [exchange, refresh, introspect, revoke];
