import type { Config } from "../config.js";
import type { AdminAuthThrottle } from "../core/admin-throttle.js";
import type { CoreContext } from "../core/context.js";
import type { RateLimiter } from "../core/rate-limit.js";
import type { SignInThrottle } from "../core/sign-in-throttle.js";
import type { KeyRing } from "../core/signing-keys.js";
import type { TokenFormat } from "../core/token-formats.js";
import type { Metrics } from "./metrics.js";

/** Everything the HTTP layer is built from; assembled once in src/server.ts. */
export interface AppDeps {
  config: Config;
  core: CoreContext;
  keyRing: KeyRing;
  /** The Ed25519 keys that sign webhook notifications, published at Canva's `/v1/connect/keys`. */
  webhookKeys: KeyRing;
  canvaTokens: TokenFormat;
  calTokens: TokenFormat;
  signInThrottle: SignInThrottle;
  adminThrottle: AdminAuthThrottle;
  rateLimiter: RateLimiter;
  metrics: Metrics;
}
