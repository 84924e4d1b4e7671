import type { FastifyInstance } from "fastify";
import { signWebhookNotification } from "../../core/webhook-signatures.js";
import type { AppDeps } from "../deps.js";
import { readJsonObject } from "./body.js";

/** A JSON body as sent, beside what it parsed to: the notification is signed as the platform wrote it. */
interface AsSent {
  text: string;
  parsed: unknown;
}

/**
 * `POST /webhooks/sign`: the platform's webhook notification (a JSON object) signed for it to send
 * to an integration, which verifies it with `GET /rest/v1/connect/keys` as it would Canva's. The
 * JWT's claims are the body's own bytes: parsed and written again, `1e999` would become `null`
 * and a large integer lose its last digits.
 */
export function registerAdminWebhooks(scope: FastifyInstance, deps: AppDeps): void {
  scope.register(async (webhooks) => {
    // The parse only tells an object from anything else; what is signed is the text. A notification
    // may carry any member name, `__proto__` too: JSON.parse keeps it as a plain property.
    const parseJson = webhooks.getDefaultJsonParser("ignore", "ignore");
    webhooks.removeContentTypeParser("application/json");
    webhooks.addContentTypeParser("application/json", { parseAs: "string" }, (request, text, done) =>
      parseJson(request, text as string, (error, parsed) =>
        error ? done(error, undefined) : done(null, { text: text as string, parsed } satisfies AsSent),
      ),
    );
    webhooks.post("/webhooks/sign", async (request) => {
      const { text, parsed } = (request.body ?? { text: "", parsed: undefined }) as AsSent;
      readJsonObject(request, parsed);
      // The parser skipped a byte order mark; a JWT's claims must not begin with one (RFC 8259 §8.1).
      return signWebhookNotification(deps.webhookKeys, text.replace(/^\uFEFF/, ""), deps.core.now());
    });
  });
}
