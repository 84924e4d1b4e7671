import autocannon from "autocannon";
import type { Workload } from "./operations.js";
import type { Target } from "./targets/target.js";

export interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Responses with a status outside 2xx. */
  non2xx: number;
  /** 2xx responses whose body is not what the operation must answer. */
  invalid: number;
  /** Connection errors and timeouts, as autocannon counts them. */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** The first few distinct failures, status and body. */
  failures: string[];
  seconds: number;
}

const MAX_FAILURE_SAMPLES = 5;

/** The one part of autocannon's client that `drive` replaces (see the comment there). */
interface ClientInternals {
  requestIterator?: { requestBuilder?: unknown };
}

/**
 * A request as autocannon's own builder writes it for these options, up to the digits of its
 * Content-Length: the request line, Host, Connection, the given headers in their order.
 */
export function headOf(url: string, path: string, headers: Record<string, string>): string {
  const { host } = new URL(url);
  const lines = [`POST ${path} HTTP/1.1`, `Host: ${host}`, "Connection: keep-alive"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\nContent-Length: `;
}

/** The bytes of one request: `head` (from `headOf`), the body's length and the body. */
export function requestBytes(head: string, body: string): Buffer {
  return Buffer.from(`${head}${Buffer.byteLength(body)}\r\n\r\n${body}`, "utf8");
}

/**
 * Drives `workload` with autocannon: `connections` connections, one request in flight on each,
 * for `seconds`, or for `amount` requests when given.
 */
export async function drive(
  target: Target,
  workload: Workload,
  seconds: number,
  connections: number,
  amount?: number,
): Promise<LoadFigures> {
  let invalid = 0;
  const failures = new Set<string>();
  const headers = {
    authorization: target.authorization,
    "content-type": "application/x-www-form-urlencoded",
  };
  const head = headOf(target.server.url, workload.path, headers);
  const result = await autocannon({
    url: target.server.url,
    connections,
    duration: seconds,
    amount,
    pipelining: 1,
    requests: [{ method: "POST", path: workload.path, headers, body: "" }],
    setupClient(client) {
      const connection = workload.connection();
      // A request whose body changes goes through autocannon's general builder, which copies the
      // request and its headers three times and joins every line again. On two cores shared with the
      // server, that bounded the floor (the load generator at 91-99% of a core, the floor's server at
      // 82-83%). Here only the body changes, so the rest is laid out once.
      // `test/bench-load.test.ts` checks the bytes against autocannon's builder; where its internals
      // differ, the general builder runs, with `setupRequest` below.
      const iterator = (client as ClientInternals).requestIterator;
      if (typeof iterator?.requestBuilder === "function") {
        iterator.requestBuilder = () => requestBytes(head, connection.body());
      }
      client.setRequests([
        {
          method: "POST",
          path: workload.path,
          headers,
          setupRequest: (request) => ({ ...request, body: connection.body() }),
          onResponse(status, body) {
            const problem = connection.response(status, body);
            if (problem === undefined) return;
            if (status >= 200 && status < 300) invalid++;
            if (failures.size < MAX_FAILURE_SAMPLES) failures.add(`${problem}: ${body.slice(0, 300)}`);
          },
        },
      ]);
    },
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    invalid,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    failures: [...failures],
    seconds: result.duration,
  };
}
