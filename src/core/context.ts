import type { Store } from "../store/types.js";
import type { ServerKeys } from "./crypto.js";

/** What every core operation needs: storage, the server's keys, the issuer, a clock, and the lifetimes core enforces. */
export interface CoreContext {
  readonly store: Store;
  readonly keys: ServerKeys;
  readonly issuer: string;
  readonly now: () => number;
  readonly codeTtlMs: number;
  /** How long after its rotation a refresh token may be presented again as a retry; 0: never. */
  readonly refreshGraceMs: number;
}
