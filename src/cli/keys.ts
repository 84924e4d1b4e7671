import { rotateSigningKey } from "../core/signing-keys.js";
import { WEBHOOK_KEY_OVERLAP_MS } from "../core/webhook-signatures.js";
import { keyActivationDelayMs, maxJwtLifetimeMs, type Runtime } from "../runtime.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

/**
 * `keys rotate`: a new key signs tokens; `--webhooks`, a new key signs webhook notifications. The
 * old token key stays published until every access token it signed has expired, the old webhook key for
 * WEBHOOK_KEY_OVERLAP_MS.
 */
export async function runKeysCommand(
  runtime: Runtime,
  sub: string | undefined,
  json: boolean,
  webhooks: boolean,
): Promise<number> {
  if (sub !== "rotate") throw new UsageError(`unknown keys command: ${sub ?? "(none)"}; expected rotate`);
  const now = runtime.core.now();
  // The old key signs until the new one is published everywhere, then its last tokens live out their lifetime.
  const activation = keyActivationDelayMs(runtime.config);
  const publishFor = activation + (webhooks ? WEBHOOK_KEY_OVERLAP_MS : maxJwtLifetimeMs(runtime.config));
  const purpose = webhooks ? "webhooks" : "tokens";
  const key = await rotateSigningKey(runtime.core.store, runtime.core.keys, now, publishFor, purpose);
  print(json, {
    kid: key.kid,
    purpose,
    previous_keys_published_until: new Date(now + publishFor).toISOString(),
    published_everywhere_within_seconds: Math.ceil(runtime.config.keyReloadMs / 1000),
    signs_from: new Date(now + activation).toISOString(),
  });
  return 0;
}
