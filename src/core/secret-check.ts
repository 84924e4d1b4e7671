import type { Store } from "../store/types.js";
import { constantTimeEqual, type ServerKeys } from "./crypto.js";
import { opensSigningKey } from "./signing-keys.js";

/**
 * Whether this process holds the secret the database's data was made with. Token hashes, client
 * secrets and signing keys made under another secret are useless to the rest, so a process with a
 * different one must not start, and a command run with one must not write. The first process to
 * open a database records a keyed hash of its secret; a database from before the check records it
 * only for a secret that opens the signing keys already there.
 */
export async function holdsDatabaseSecret(store: Store, keys: ServerKeys, now: number): Promise<boolean> {
  const mine = keys.secretCheck();
  let recorded = await store.getSecretCheck();
  if (recorded === undefined) {
    const existing = await store.listSigningKeys(now);
    if (existing.some((record) => !opensSigningKey(keys, record))) return false;
    recorded = await store.claimSecretCheck(mine);
    await store.flush();
  }
  return constantTimeEqual(recorded, mine);
}
