/**
 * Loaded into keyward's server process by revocation-ceiling.ts: every revocation's write resolves
 * at once without running, so a revocation still authenticates the client, hashes and looks up
 * the token and answers 200, but writes nothing and waits for no disk sync.
 */
import { replaceRevocationWrites } from "./revocation-writes.js";

replaceRevocationWrites(() => Promise.resolve());
