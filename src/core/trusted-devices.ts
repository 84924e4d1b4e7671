import { constantTimeEqual, randomToken } from "./crypto.js";

/**
 * Trusted devices: a browser that has signed in to an account carries a cookie vouching for it, and
 * its failed sign-ins to that account are counted apart from everyone else's. Someone who knows
 * only an email can then lock out strangers' browsers, not the owner's own. The cookie holds, per
 * account, a random nonce and a keyed tag of the nonce and the account's email, so it names no
 * account and cannot be forged or moved to another one.
 */

/** Accounts one browser is remembered for; signing in to another forgets the oldest. */
export const TRUSTED_ACCOUNTS_PER_DEVICE = 3;
const NONCE_BYTES = 12;
const TAG_BYTES = 12;
/** Base64url lengths of the two parts; one entry is their sum, and a cookie is entries end to end. */
const NONCE_CHARS = 16;
const ENTRY_CHARS = 32;

interface DeviceKeys {
  deviceTag(input: string, bytes: number): string;
}

function tagOf(keys: DeviceKeys, nonce: string, account: string): string {
  return keys.deviceTag(`${nonce}\u0000${account}`, TAG_BYTES);
}

function entriesOf(cookie: string | undefined): string[] {
  if (!cookie || cookie.length % ENTRY_CHARS !== 0) return [];
  const entries: string[] = [];
  for (let at = 0; at < cookie.length && entries.length < TRUSTED_ACCOUNTS_PER_DEVICE; at += ENTRY_CHARS) {
    entries.push(cookie.slice(at, at + ENTRY_CHARS));
  }
  return entries;
}

function vouches(keys: DeviceKeys, entry: string, account: string): boolean {
  return constantTimeEqual(entry.slice(NONCE_CHARS), tagOf(keys, entry.slice(0, NONCE_CHARS), account));
}

/** The device's id for this account when the cookie vouches for it; undefined for a stranger's browser. */
export function trustedDevice(keys: DeviceKeys, cookie: string | undefined, account: string): string | undefined {
  const entry = entriesOf(cookie).find((candidate) => vouches(keys, candidate, account));
  return entry?.slice(0, NONCE_CHARS);
}

/**
 * The cookie after a successful sign-in to the account: its entry kept (so its count of failures
 * stays its own) or made, and put last, the oldest other entry dropped past the limit.
 */
export function rememberDevice(keys: DeviceKeys, cookie: string | undefined, account: string): string {
  const entries = entriesOf(cookie);
  const kept = entries.find((entry) => vouches(keys, entry, account));
  const nonce = kept?.slice(0, NONCE_CHARS) ?? randomToken(NONCE_BYTES);
  const others = entries.filter((entry) => entry !== kept);
  const all = [...others, nonce + tagOf(keys, nonce, account)];
  return all.slice(-TRUSTED_ACCOUNTS_PER_DEVICE).join("");
}
