/**
 * Shared by the modules revocation-ceiling.ts loads into keyward's server process (`node --import`),
 * never by keyward itself. A revocation's transaction is told by its source text: it calls
 * `revokeGrant` or `revokeGrantsOf`. Making a closure of its size and testing its text took
 * 0.1-0.2 µs in a loop here, which the ceiling counts against itself.
 */
import { KyselyStore } from "../../src/store/kysely-store.js";

type Work<T> = Parameters<typeof KyselyStore.prototype.transaction<T>>[0];

const REVOKES = /\.revokeGrant(?:sOf)?\(/;
const transaction = KyselyStore.prototype.transaction;

/**
 * Hands every revocation's transaction to `replace`, with a way to run a transaction as shipped;
 * other transactions run as shipped.
 */
export function replaceRevocationTransactions(replace: <T>(run: (work: Work<T>) => Promise<T>) => Promise<T>): void {
  KyselyStore.prototype.transaction = function replaced<T>(this: KyselyStore, work: Work<T>): Promise<T> {
    const run = (what: Work<T>) => transaction.call(this, what) as Promise<T>;
    if (REVOKES.test(String(work))) return replace<T>(run);
    return run(work);
  };
}
