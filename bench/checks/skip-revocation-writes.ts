/**
 * Loaded into keyward's server process by revocation-ceiling.ts: every transaction that revokes a
 * grant resolves at once without running, so a revocation still authenticates the client, hashes
 * and looks up the token and answers 200, but writes nothing and waits for no disk sync.
 */
import { replaceRevocationTransactions } from "./revocation-transactions.js";

replaceRevocationTransactions(<T>() => Promise.resolve(undefined as T));
