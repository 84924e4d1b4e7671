import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.js";
import { renderPrometheus } from "../metrics.js";
import { collectMetrics, MetricsUnavailable } from "../metrics-cluster.js";
import { AdminError } from "./errors.js";

/** `GET /admin/v1/metrics`: the server's counters in Prometheus's text format, for a scraper holding the admin token. */
export function registerAdminMetrics(scope: FastifyInstance, deps: AppDeps): void {
  scope.get("/metrics", async (_request, reply) => {
    let snapshot: Awaited<ReturnType<typeof collectMetrics>>;
    try {
      snapshot = await collectMetrics(deps.metrics);
    } catch (error) {
      if (error instanceof MetricsUnavailable) throw new AdminError(503, "temporarily_unavailable", error.message);
      throw error;
    }
    return reply.type("text/plain; version=0.0.4; charset=utf-8").send(renderPrometheus(snapshot));
  });
}
