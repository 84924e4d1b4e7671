import { CompactSign } from "jose";
import { type KeyRing, WEBHOOK_ALG } from "./signing-keys.js";

/**
 * How long a webhook key stays published after a rotation: a notification signed just before it,
 * delivered late or retried for days, still verifies.
 */
export const WEBHOOK_KEY_OVERLAP_MS = 7 * 24 * 3600 * 1000;

/**
 * A webhook notification signed as Canva signs its own: a JWT whose claims are the notification
 * (JSON text of an object, signed byte for byte), signed with the current Ed25519 key, which
 * `GET /rest/v1/connect/keys` publishes by its `kid`. The platform sends the result as the
 * notification's body.
 */
export async function signWebhookNotification(
  ring: KeyRing,
  notification: string,
  now: number,
): Promise<{ jwt: string; kid: string }> {
  const { kid, privateKey } = ring.current(now);
  const payload = new TextEncoder().encode(notification);
  const jwt = await new CompactSign(payload).setProtectedHeader({ alg: WEBHOOK_ALG, kid, typ: "JWT" }).sign(privateKey);
  return { jwt, kid };
}
