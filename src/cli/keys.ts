import { rotateSigningKey } from "../core/signing-keys.js";
import { maxJwtLifetimeMs, type Runtime } from "../runtime.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

export async function runKeysCommand(runtime: Runtime, sub: string | undefined, json: boolean): Promise<number> {
  if (sub !== "rotate") throw new UsageError(`unknown keys command: ${sub ?? "(none)"}; expected rotate`);
  const now = runtime.core.now();
  const lifetime = maxJwtLifetimeMs(runtime.config);
  const key = await rotateSigningKey(runtime.core.store, runtime.core.keys, now, lifetime);
  print(json, {
    kid: key.kid,
    previous_keys_published_until: new Date(now + lifetime).toISOString(),
    takes_effect_within_seconds: Math.ceil(runtime.config.keyReloadMs / 1000),
  });
  return 0;
}
