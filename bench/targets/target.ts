import type { CodeFixture } from "../fixtures.js";
import type { ServerProcess } from "../server-process.js";

export interface EndpointPaths {
  token: string;
  introspect: string;
  revoke: string;
}

/** A server under test, already listening, with a way to mint what each operation consumes. */
export interface Target {
  readonly name: string;
  readonly server: ServerProcess;
  readonly paths: EndpointPaths;
  /** The Basic authorization header of the target's confidential client. */
  readonly authorization: string;
  /** Anything a reader of the results should know about how this target was measured. */
  readonly notes: string[];
  mintCodes(count: number): Promise<CodeFixture[]>;
  mintRefreshTokens(count: number): Promise<string[]>;
  mintAccessToken(): Promise<string>;
  stop(): Promise<void>;
}

/** POSTs `token` as a form to `path` with the target's client authentication, as the load does. */
export async function postToken(
  target: Target,
  path: string,
  token: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${target.server.url}${path}`, {
    method: "POST",
    headers: { authorization: target.authorization, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: response.status, body: await response.text() };
}

/** A target that cannot run here (yet); the message says why. */
export class TargetUnavailable extends Error {}

export const CANVA_PATHS: EndpointPaths = {
  token: "/rest/v1/oauth/token",
  introspect: "/rest/v1/oauth/introspect",
  revoke: "/rest/v1/oauth/revoke",
};
