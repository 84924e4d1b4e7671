import { memoryUsage } from "node:process";

/** Upper bounds, in seconds, of the request duration histogram's buckets. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One route and method: its answers by status, and how long they took. */
export interface RouteSeries {
  method: string;
  /** The route as registered (`/v2/oauth/:clientId/exchange`), or `unmatched`. */
  route: string;
  statuses: Record<string, number>;
  /** Answers at or under each of DURATION_BUCKETS, not cumulative. */
  buckets: number[];
  seconds: number;
  count: number;
}

export interface ProcessFigures {
  residentBytes: number;
  heapUsedBytes: number;
  cpuSeconds: number;
}

/** What one process counted, as plain data, so that a cluster's workers can send theirs to be added up. */
export interface MetricsSnapshot {
  routes: RouteSeries[];
  /** By SecurityEvent kind, `sign_in_throttled` and `admin_auth_throttled`. */
  securityEvents: Record<string, number>;
  /** By `dialect grant_type`. */
  tokensIssued: Record<string, number>;
  processes: ProcessFigures[];
}

export type Dialect = "canva" | "cal";

/**
 * The server's counters, kept in the process and read by the admin API's `/metrics`. Counting is a
 * map lookup and an increment; nothing is kept per client, user or path, so their number stays put.
 */
export class Metrics {
  private readonly routes = new Map<string, Map<string, RouteSeries>>();
  private readonly securityEvents = new Map<string, number>();
  private readonly tokensIssued = new Map<string, number>();

  /** One answer: `route` is the route as registered, undefined for a path no route matched. */
  observe(method: string, route: string | undefined, status: number, seconds: number): void {
    const path = route ?? "unmatched";
    let byMethod = this.routes.get(path);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.routes.set(path, byMethod);
    }
    let series = byMethod.get(method);
    if (series === undefined) {
      series = { method, route: path, statuses: {}, buckets: DURATION_BUCKETS.map(() => 0), seconds: 0, count: 0 };
      byMethod.set(method, series);
    }
    series.statuses[status] = (series.statuses[status] ?? 0) + 1;
    const bucket = DURATION_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket >= 0) series.buckets[bucket] = (series.buckets[bucket] ?? 0) + 1;
    series.seconds += seconds;
    series.count++;
  }

  securityEvent(kind: string): void {
    this.securityEvents.set(kind, (this.securityEvents.get(kind) ?? 0) + 1);
  }

  tokenIssued(dialect: Dialect, grantType: string): void {
    const key = `${dialect} ${grantType}`;
    this.tokensIssued.set(key, (this.tokensIssued.get(key) ?? 0) + 1);
  }

  snapshot(): MetricsSnapshot {
    const routes = [...this.routes.values()].flatMap((byMethod) =>
      [...byMethod.values()].map((series) => ({
        ...series,
        statuses: { ...series.statuses },
        buckets: [...series.buckets],
      })),
    );
    const cpu = process.cpuUsage();
    return {
      routes,
      securityEvents: Object.fromEntries(this.securityEvents),
      tokensIssued: Object.fromEntries(this.tokensIssued),
      processes: [
        {
          residentBytes: memoryUsage.rss(),
          heapUsedBytes: memoryUsage().heapUsed,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
        },
      ],
    };
  }
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
}

/** The sum of several processes' snapshots: what the cluster as a whole counted. */
export function mergeSnapshots(snapshots: MetricsSnapshot[]): MetricsSnapshot {
  const routes = new Map<string, RouteSeries>();
  const merged: MetricsSnapshot = { routes: [], securityEvents: {}, tokensIssued: {}, processes: [] };
  for (const snapshot of snapshots) {
    for (const series of snapshot.routes) {
      const key = `${series.method} ${series.route}`;
      const into = routes.get(key);
      if (into === undefined) {
        routes.set(key, { ...series, statuses: { ...series.statuses }, buckets: [...series.buckets] });
        continue;
      }
      addCounts(into.statuses, series.statuses);
      series.buckets.forEach((count, i) => {
        into.buckets[i] = (into.buckets[i] ?? 0) + count;
      });
      into.seconds += series.seconds;
      into.count += series.count;
    }
    addCounts(merged.securityEvents, snapshot.securityEvents);
    addCounts(merged.tokensIssued, snapshot.tokensIssued);
    merged.processes.push(...snapshot.processes);
  }
  merged.routes = [...routes.values()];
  return merged;
}

/** A label value as Prometheus's text format quotes it. */
const quoted = (value: string) => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([name, value]) => `${name}=${quoted(value)}`)
    .join(",")}}`;
}

/** Prometheus's text exposition format (version 0.0.4). */
export function renderPrometheus(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const routes = [...snapshot.routes].sort((a, b) => `${a.route} ${a.method}`.localeCompare(`${b.route} ${b.method}`));

  family("keyward_http_requests_total", "counter", "Requests answered, by route, method and status.");
  for (const { route, method, statuses } of routes) {
    for (const [status, count] of Object.entries(statuses)) {
      lines.push(`keyward_http_requests_total${labels({ route, method, status })} ${count}`);
    }
  }
  family(
    "keyward_http_request_duration_seconds",
    "histogram",
    "Time from a request's arrival until its answer was written, durable writes included.",
  );
  for (const { route, method, buckets, seconds, count } of routes) {
    let cumulative = 0;
    DURATION_BUCKETS.forEach((bound, i) => {
      cumulative += buckets[i] ?? 0;
      lines.push(
        `keyward_http_request_duration_seconds_bucket${labels({ route, method, le: String(bound) })} ${cumulative}`,
      );
    });
    lines.push(`keyward_http_request_duration_seconds_bucket${labels({ route, method, le: "+Inf" })} ${count}`);
    lines.push(`keyward_http_request_duration_seconds_sum${labels({ route, method })} ${seconds}`);
    lines.push(`keyward_http_request_duration_seconds_count${labels({ route, method })} ${count}`);
  }
  family("keyward_tokens_issued_total", "counter", "Token responses, by dialect and grant type.");
  for (const [key, count] of Object.entries(snapshot.tokensIssued).sort()) {
    const [dialect = "", grantType = ""] = key.split(" ");
    lines.push(`keyward_tokens_issued_total${labels({ dialect, grant_type: grantType })} ${count}`);
  }
  family(
    "keyward_security_events_total",
    "counter",
    "Security events as logged: reused codes and refresh tokens whose lineage was revoked, sign-in and admin limits reached (warn), refreshes answered again within the grace (info).",
  );
  for (const [event, count] of Object.entries(snapshot.securityEvents).sort()) {
    lines.push(`keyward_security_events_total${labels({ event })} ${count}`);
  }
  const sum = (pick: (p: ProcessFigures) => number) => snapshot.processes.reduce((total, p) => total + pick(p), 0);
  family("keyward_processes", "gauge", "Server processes whose figures these are.");
  lines.push(`keyward_processes ${snapshot.processes.length}`);
  family("process_resident_memory_bytes", "gauge", "Resident memory of the server processes, summed.");
  lines.push(`process_resident_memory_bytes ${sum((p) => p.residentBytes)}`);
  family("nodejs_heap_used_bytes", "gauge", "V8 heap in use in the server processes, summed.");
  lines.push(`nodejs_heap_used_bytes ${sum((p) => p.heapUsedBytes)}`);
  family("process_cpu_seconds_total", "counter", "CPU time of the server processes, user and system, summed.");
  lines.push(`process_cpu_seconds_total ${sum((p) => p.cpuSeconds)}`);
  return `${lines.join("\n")}\n`;
}
