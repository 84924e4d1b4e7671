import type { Config } from "./config.js";
import type { CoreContext } from "./core/context.js";
import { ServerKeys } from "./core/crypto.js";
import { SignInThrottle } from "./core/sign-in-throttle.js";
import { KeyRing } from "./core/signing-keys.js";
import { CalTokenFormat, CanvaTokenFormat } from "./core/token-formats.js";
import type { AppDeps } from "./http/deps.js";
import { type OpenedStore, openStore } from "./store/open.js";

export interface Runtime extends AppDeps {
  opened: OpenedStore;
  close(): Promise<void>;
}

/** The longest-lived JWT any dialect signs: how long a retired key must stay published. */
export function maxJwtLifetimeMs(config: Config): number {
  return Math.max(config.accessTokenTtlMs, config.calAccessTokenTtlMs, config.calRefreshTokenTtlMs);
}

/** Opens the database and assembles the core and its dependencies; shared by the server and the CLI. */
export async function openRuntime(config: Config): Promise<Runtime> {
  const opened = await openStore(config.databaseUrl);
  const keys = new ServerKeys(config.secret);
  const core: CoreContext = {
    store: opened.store,
    keys,
    issuer: config.issuer,
    now: Date.now,
    codeTtlMs: config.codeTtlMs,
  };
  const keyRing = new KeyRing(opened.store, keys, config.keyReloadMs);
  return {
    config,
    core,
    keyRing,
    canvaTokens: new CanvaTokenFormat(keyRing, config.accessTokenTtlMs, config.refreshTokenTtlMs),
    calTokens: new CalTokenFormat(keyRing, config.calAccessTokenTtlMs, config.calRefreshTokenTtlMs),
    signInThrottle: new SignInThrottle(),
    opened,
    close: () => opened.store.close(),
  };
}
