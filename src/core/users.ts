import type { UserRecord } from "../store/types.js";
import type { CoreContext } from "./context.js";
import { randomToken } from "./crypto.js";
import { decoyPasswordHash, hashPassword, verifyPassword } from "./passwords.js";

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The longest address SMTP carries (RFC 5321 §4.5.3.1.3), as stored (lower-cased). */
const MAX_EMAIL_LENGTH = 254;

export function isPlausibleEmail(email: string): boolean {
  // No whitespace or control character (NUL among them) on either side of the one `@`.
  return /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u.test(email) && email.length <= MAX_EMAIL_LENGTH;
}

export const MIN_PASSWORD_LENGTH = 8;

/** What is wrong with an email or password given for an account; each front end words it its own way. */
export type UserFieldProblem =
  | { field: "email"; problem: "missing" }
  | { field: "email"; problem: "invalid"; value: string }
  | { field: "password"; problem: "missing" | "too_short" };

export type CheckedUserField = { ok: true; value: string } | { ok: false; problem: UserFieldProblem };

/** The email as given, trimmed, or what is wrong with it. */
export function checkEmail(email: string | undefined): CheckedUserField {
  const trimmed = email?.trim();
  if (!trimmed) return { ok: false, problem: { field: "email", problem: "missing" } };
  // Checked as stored: lower-casing can lengthen it (İ becomes i and a combining dot).
  if (!isPlausibleEmail(normalizeEmail(trimmed)))
    return { ok: false, problem: { field: "email", problem: "invalid", value: trimmed } };
  return { ok: true, value: trimmed };
}

export function checkPassword(password: string | undefined): CheckedUserField {
  if (!password) return { ok: false, problem: { field: "password", problem: "missing" } };
  if (password.length < MIN_PASSWORD_LENGTH) return { ok: false, problem: { field: "password", problem: "too_short" } };
  return { ok: true, value: password };
}

export interface NewUser {
  email: string;
  password: string;
  displayName?: string;
}

/** Creates a user; throws DuplicateError (from the store) when the email is taken. */
export async function createUser(ctx: CoreContext, input: NewUser): Promise<UserRecord> {
  const email = normalizeEmail(input.email);
  const user: UserRecord = {
    id: randomToken(16),
    email,
    passwordHash: await hashPassword(input.password),
    // A blank name is no name: the email's local part stands in, as when none is given.
    displayName: input.displayName?.trim() || email.split("@")[0] || email,
    teamId: randomToken(16),
    createdAt: ctx.now(),
  };
  await ctx.store.createUser(user);
  return user;
}

/** Sets a new password and ends the user's sign-in sessions; false when there is no such user. */
export async function changePassword(ctx: CoreContext, userId: string, password: string): Promise<boolean> {
  return ctx.store.setUserPassword(userId, await hashPassword(password));
}

/** Checks a password; an unknown email costs the same scrypt work as a known one. */
export async function checkCredentials(
  ctx: CoreContext,
  email: string,
  password: string,
): Promise<UserRecord | undefined> {
  const user = await ctx.store.getUserByEmail(normalizeEmail(email));
  const valid = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
  return valid ? user : undefined;
}
