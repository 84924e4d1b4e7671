/**
 * Loaded into keyward's server process by revocation-ceiling.ts: every revocation's write resolves
 * at once without running, so a revocation still authenticates the client, hashes the token and
 * answers 200, but neither looks the token up (that runs with the writes) nor writes, and waits
 * for no disk sync.
 */
import { replaceRevocationWrites } from "./revocation-writes.js";

replaceRevocationWrites(() => Promise.resolve());
