import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.js";

/**
 * `GET /v1/connect/keys`: the public Ed25519 keys an integration verifies the platform's webhook
 * notifications with (see `signWebhookNotification`). Public, as Canva's is.
 */
export function registerCanvaConnectKeys(app: FastifyInstance, deps: AppDeps): void {
  app.get("/v1/connect/keys", async () => deps.webhookKeys.jwks());
}
