/**
 * Loaded into keyward's server process by revocation-ceiling.ts: every revocation's write goes to
 * the write thread as a group with no statements. The thread still runs it in a batch, opens and
 * releases its savepoint and commits, and its request still waits for the commit and its disk
 * sync, but nothing is looked up or revoked. Beside the shipped server and
 * skip-revocation-writes.ts, it splits what a revocation's write costs into its statements and the
 * hand-off around them.
 */
import { replaceRevocationWrites } from "./revocation-writes.js";

replaceRevocationWrites((writeAlone) => writeAlone([]));
