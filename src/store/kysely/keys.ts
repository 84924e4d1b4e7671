/** Signing and webhook keys, and the database's secret check. */
import { isUniqueViolation } from "../errors.js";
import { SECRET_CHECK_ID } from "../queries.js";
import { KEY_TABLES, toSigningKey } from "../records.js";
import { DuplicateError, type KeyPurpose, type SigningKeyRecord } from "../types.js";
import type { KyselyContext } from "./context.js";

export async function getSecretCheck(cx: KyselyContext): Promise<string | undefined> {
  const row = await cx.db
    .selectFrom("secret_check")
    .select("value")
    .where("id", "=", SECRET_CHECK_ID)
    .executeTakeFirst();
  return row?.value;
}

export async function claimSecretCheck(cx: KyselyContext, value: string): Promise<string> {
  await cx.db
    .insertInto("secret_check")
    .values({ id: SECRET_CHECK_ID, value })
    .onConflict((conflict) => conflict.column("id").doNothing())
    .execute();
  const recorded = await getSecretCheck(cx);
  if (recorded === undefined) throw new Error("the secret check was not recorded");
  return recorded;
}

export async function addSigningKey(cx: KyselyContext, key: SigningKeyRecord): Promise<void> {
  try {
    await cx.db
      .insertInto(KEY_TABLES[key.purpose])
      .values({
        kid: key.kid,
        alg: key.alg,
        public_jwk: key.publicJwk,
        private_jwk_encrypted: key.privateJwkEncrypted,
        created_at: key.createdAt,
        retired_at: key.retiredAt,
        publish_until: key.publishUntil,
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new DuplicateError("another signing key is already current");
    throw error;
  }
}

export async function listSigningKeys(
  cx: KyselyContext,
  now: number,
  purpose: KeyPurpose = "tokens",
): Promise<SigningKeyRecord[]> {
  const rows = await cx.db
    .selectFrom(KEY_TABLES[purpose])
    .selectAll()
    .where((eb) => eb.or([eb("publish_until", "is", null), eb("publish_until", ">", now)]))
    .orderBy("created_at", "desc")
    .orderBy("kid", "desc")
    .execute();
  return rows.map((row) => toSigningKey(row, purpose));
}

export async function retireSigningKeys(
  cx: KyselyContext,
  now: number,
  publishUntil: number,
  purpose: KeyPurpose,
): Promise<void> {
  await cx.db
    .updateTable(KEY_TABLES[purpose])
    .set({ retired_at: now, publish_until: publishUntil })
    .where("retired_at", "is", null)
    .execute();
}
