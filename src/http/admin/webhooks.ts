import type { FastifyInstance } from "fastify";
import { signWebhookNotification } from "../../core/webhook-signatures.js";
import type { AppDeps } from "../deps.js";
import { readJsonObject } from "./body.js";

/**
 * `POST /webhooks/sign`: the platform's webhook notification (a JSON object) signed for it to send
 * to an integration, which verifies it with `GET /rest/v1/connect/keys` as it would Canva's.
 */
export function registerAdminWebhooks(scope: FastifyInstance, deps: AppDeps): void {
  scope.post("/webhooks/sign", async (request) => {
    const notification = readJsonObject(request);
    const { jwt, kid } = await signWebhookNotification(deps.webhookKeys, notification);
    return { jwt, kid };
  });
}
