/**
 * Loaded into keyward's server process by revocation-ceiling.ts: every transaction that revokes a
 * grant runs with no statements in it. It still joins or opens a batch, opens and releases its
 * savepoint, and its request still waits for the batch's commit and disk sync, but nothing is
 * revoked. Beside the shipped server and skip-revocation-writes.ts, it splits what a revocation's
 * write costs into its statements and the transaction around them.
 */
import { replaceRevocationTransactions } from "./revocation-transactions.js";

replaceRevocationTransactions(<T>(run: (work: () => Promise<T>) => Promise<T>) =>
  run(() => Promise.resolve(undefined as T)),
);
