import type { Runtime } from "../runtime.js";
import { print } from "./output.js";

/** Prunes once, whatever the timer in running servers is doing; safe alongside them. */
export async function runPruneCommand(runtime: Runtime, json: boolean): Promise<number> {
  const counts = await runtime.core.store.pruneExpired(runtime.core.now(), runtime.config.pruneBatchSize);
  print(json, {
    authorization_codes: counts.authorizationCodes,
    tokens: counts.tokens,
    sessions: counts.sessions,
    grants: counts.grants,
    signing_keys: counts.signingKeys,
  });
  return 0;
}
