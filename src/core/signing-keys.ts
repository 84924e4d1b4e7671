import { createCipheriv, createDecipheriv, KeyObject, randomBytes } from "node:crypto";
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { DuplicateError, type SigningKeyRecord, type Store } from "../store/types.js";
import { randomToken, type ServerKeys } from "./crypto.js";

export const SIGNING_ALG = "ES256";

export interface ActiveKey {
  kid: string;
  privateKey: KeyObject;
}

/** AES-256-GCM, the key id as associated data so a ciphertext cannot be moved to another key row. */
function encrypt(key: Buffer, kid: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(kid));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(
    ".",
  );
}

function decrypt(key: Buffer, kid: string, sealed: string): string {
  const [version, iv, tag, body] = sealed.split(".");
  if (version !== "v1" || !iv || !tag || body === undefined) throw new Error(`signing key ${kid} is not readable`);
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
}

export async function createSigningKey(keys: ServerKeys, now: number): Promise<SigningKeyRecord> {
  const kid = randomToken(12);
  const pair = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: SIGNING_ALG, use: "sig" };
  const privateJwk = await exportJWK(pair.privateKey);
  return {
    kid,
    alg: SIGNING_ALG,
    publicJwk: JSON.stringify(publicJwk),
    privateJwkEncrypted: encrypt(keys.keyEncryption, kid, JSON.stringify(privateJwk)),
    createdAt: now,
    retiredAt: null,
    publishUntil: null,
  };
}

/**
 * The signing keys as this process knows them: the current private key and the published set.
 * The server calls `load` every KEYWARD_KEY_RELOAD seconds, so a rotation made anywhere reaches
 * every instance.
 */
/** Whether `keys` can open the private part of a stored signing key, which only the secret it was sealed under can. */
export function opensSigningKey(keys: ServerKeys, record: SigningKeyRecord): boolean {
  try {
    decrypt(keys.keyEncryption, record.kid, record.privateJwkEncrypted);
    return true;
  } catch {
    return false;
  }
}

export class KeyRing {
  private active: ActiveKey | undefined;
  private published: JWK[] = [];

  constructor(
    private readonly store: Store,
    private readonly keys: ServerKeys,
  ) {}

  /** Loads the keys, creating the first one on an empty database. */
  async load(now: number): Promise<void> {
    let records = await this.store.listSigningKeys(now);
    if (!records.some((r) => r.retiredAt === null)) {
      try {
        await this.store.addSigningKey(await createSigningKey(this.keys, now));
        // Other instances must find it before this one signs with it.
        await this.store.flush();
      } catch (error) {
        // Another instance created the first key at the same moment; use that one.
        if (!(error instanceof DuplicateError)) throw error;
      }
      records = await this.store.listSigningKeys(now);
    }
    const current = records.find((r) => r.retiredAt === null);
    if (!current) throw new Error("no current signing key");
    if (this.active?.kid !== current.kid) {
      const jwk = JSON.parse(decrypt(this.keys.keyEncryption, current.kid, current.privateJwkEncrypted)) as JWK;
      const imported = (await importJWK(jwk, SIGNING_ALG)) as CryptoKey;
      this.active = { kid: current.kid, privateKey: KeyObject.from(imported) };
    }
    this.published = records.map((r) => JSON.parse(r.publicJwk) as JWK);
  }

  current(): ActiveKey {
    if (!this.active) throw new Error("signing keys are not loaded");
    return this.active;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.published };
  }
}

/**
 * Makes a new key current. The old ones stay published for `maxTokenLifetimeMs`, long enough
 * for every token they signed to expire.
 */
export async function rotateSigningKey(
  store: Store,
  keys: ServerKeys,
  now: number,
  maxTokenLifetimeMs: number,
): Promise<SigningKeyRecord> {
  const record = await createSigningKey(keys, now);
  await store.transaction(async (tx) => {
    await tx.retireSigningKeys(now, now + maxTokenLifetimeMs);
    await tx.addSigningKey(record);
  });
  await store.flush();
  return record;
}
