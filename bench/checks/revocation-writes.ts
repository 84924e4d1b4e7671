/**
 * Shared by the modules revocation-ceiling.ts loads into keyward's server process (`node --import`),
 * never by keyward itself. A revocation's write is the store's `revokeToken` (or `revokeGrant`)
 * called outside a transaction, which on SQLite goes to the write thread (see WriteThread) with
 * the token's lookup in it.
 */
import { KyselyStore } from "../../src/store/kysely-store.js";
import type { WriteAlone } from "../../src/store/sqlite.js";

/** The store's private parts the replacement needs. */
interface StoreInside {
  db: { isTransaction: boolean };
  writeAlone?: WriteAlone;
}

type Method = (this: StoreInside, ...args: unknown[]) => Promise<unknown>;

/**
 * Hands every revocation's write on SQLite to `replace`, with the store's way to the write
 * thread; it answers as a revocation that found its token (or revoked its lineage) would. Writes
 * inside a transaction, and every write on a store without a write thread, run as shipped.
 */
export function replaceRevocationWrites(replace: (writeAlone: WriteAlone) => Promise<unknown>): void {
  const methods = KyselyStore.prototype as unknown as Record<"revokeToken" | "revokeGrant", Method>;
  const answers = { revokeToken: true, revokeGrant: true };
  for (const name of ["revokeToken", "revokeGrant"] as const) {
    const shipped = methods[name];
    methods[name] = async function replaced(this: StoreInside, ...args: unknown[]) {
      const { writeAlone } = this;
      if (this.db.isTransaction || !writeAlone) return shipped.apply(this, args);
      await replace(writeAlone);
      return answers[name];
    };
  }
}
