import { createCipheriv, createDecipheriv, KeyObject, randomBytes } from "node:crypto";
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { DuplicateError, type KeyPurpose, type SigningKeyRecord, type Store } from "../store/types.js";
import { randomToken, type ServerKeys } from "./crypto.js";

export const SIGNING_ALG = "ES256";
/** Webhook notifications are signed as Canva signs its own: Ed25519, published as OKP keys. */
export const WEBHOOK_ALG = "EdDSA";

const ALGORITHMS: Readonly<Record<KeyPurpose, string>> = { tokens: SIGNING_ALG, webhooks: WEBHOOK_ALG };

/** The public key as each endpoint publishes it: the JWKS's members, or Canva's four fields of `/v1/connect/keys`. */
function publishedJwk(purpose: KeyPurpose, kid: string, jwk: JWK): JWK {
  if (purpose === "webhooks") return { kid, kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  return { ...jwk, kid, alg: SIGNING_ALG, use: "sig" };
}

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

async function createSigningKey(
  keys: ServerKeys,
  now: number,
  purpose: KeyPurpose = "tokens",
): Promise<SigningKeyRecord> {
  const kid = randomToken(12);
  const alg = ALGORITHMS[purpose];
  const pair = await generateKeyPair(
    alg,
    purpose === "webhooks" ? { extractable: true, crv: "Ed25519" } : { extractable: true },
  );
  const publicJwk = publishedJwk(purpose, kid, await exportJWK(pair.publicKey));
  const privateJwk = await exportJWK(pair.privateKey);
  return {
    kid,
    alg,
    purpose,
    publicJwk: JSON.stringify(publicJwk),
    privateJwkEncrypted: encrypt(keys.keyEncryption, kid, JSON.stringify(privateJwk)),
    createdAt: now,
    retiredAt: null,
    publishUntil: null,
  };
}

/** Whether `keys` can open the private part of a stored signing key, which only the secret it was sealed under can. */
export function opensSigningKey(keys: ServerKeys, record: SigningKeyRecord): boolean {
  try {
    decrypt(keys.keyEncryption, record.kid, record.privateJwkEncrypted);
    return true;
  } catch {
    return false;
  }
}

interface Upcoming {
  key: ActiveKey;
  signsFrom: number;
}

/**
 * The signing keys as this process knows them: the current private key and the published set.
 * The server calls `load` every KEYWARD_KEY_RELOAD seconds, so a rotation made anywhere reaches
 * every instance.
 */
export class KeyRing {
  private active: ActiveKey | undefined;
  /** Keys too young to sign yet, oldest first, opened ahead so each signs from the moment it may. */
  private upcoming: Upcoming[] = [];
  private published: JWK[] = [];

  /**
   * `activationDelayMs`: how old a key must be before this ring signs with it. Every instance
   * reloads its keys within KEYWARD_KEY_RELOAD, so a key that old is published by all of them; one
   * younger may not be yet, and a verifier asking another instance for it would not find it.
   */
  constructor(
    private readonly store: Store,
    private readonly keys: ServerKeys,
    readonly purpose: KeyPurpose = "tokens",
    private readonly activationDelayMs = 0,
  ) {}

  /** Loads the keys, creating the first one on an empty database. */
  async load(now: number): Promise<void> {
    let records = await this.store.listSigningKeys(now, this.purpose);
    if (!records.some((r) => r.retiredAt === null)) {
      try {
        await this.store.addSigningKey(await createSigningKey(this.keys, now, this.purpose));
        // Other instances must find it before this one signs with it.
        await this.store.flush();
      } catch (error) {
        // Another instance created the first key at the same moment; use that one.
        if (!(error instanceof DuplicateError)) throw error;
      }
      records = await this.store.listSigningKeys(now, this.purpose);
    }
    const newest = records.find((r) => r.retiredAt === null);
    if (!newest) throw new Error("no current signing key");
    // Newest first. The key to sign with now: the newest one old enough that every instance has
    // had a reload to publish it (still published, though retired); the first key of all has none
    // before it, and is used at once. Signing never steps back: current() may have moved on while
    // this load read the keys, with a clock later than this `now`.
    let at = records.findIndex((r) => r.createdAt <= now - this.activationDelayMs);
    if (at === -1) at = records.indexOf(newest);
    const signing = records.findIndex((r) => r.kid === this.active?.kid);
    if (signing !== -1 && signing < at) at = signing;
    const current = records[at] as SigningKeyRecord;
    const active = this.active?.kid === current.kid ? this.active : await this.open(current);
    // The younger keys, opened now, sign from the moment each may rather than from the first
    // reload after it (up to KEYWARD_KEY_RELOAD later, while the key it replaces is published for
    // no longer).
    const upcoming: Upcoming[] = [];
    for (const record of records.slice(0, at).reverse()) {
      const known = this.upcoming.find((u) => u.key.kid === record.kid);
      upcoming.push(known ?? { key: await this.open(record), signsFrom: record.createdAt + this.activationDelayMs });
    }
    // Set together after the last await; current() moves on to whatever is due at its call.
    this.active = active;
    this.upcoming = upcoming;
    this.published = records.map((r) => JSON.parse(r.publicJwk) as JWK);
  }

  /** The key to sign with at `now`. */
  current(now: number): ActiveKey {
    while (this.upcoming.length > 0 && now >= (this.upcoming[0] as Upcoming).signsFrom) {
      this.active = (this.upcoming.shift() as Upcoming).key;
    }
    if (!this.active) throw new Error("signing keys are not loaded");
    return this.active;
  }

  private async open(record: SigningKeyRecord): Promise<ActiveKey> {
    const jwk = JSON.parse(decrypt(this.keys.keyEncryption, record.kid, record.privateJwkEncrypted)) as JWK;
    const imported = (await importJWK(jwk, ALGORITHMS[this.purpose])) as CryptoKey;
    return { kid: record.kid, privateKey: KeyObject.from(imported) };
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.published };
  }
}

/**
 * Makes a new key of `purpose` current. The old one stays published for `publishForMs`: for token
 * keys, long enough for every token it signed to expire.
 */
export async function rotateSigningKey(
  store: Store,
  keys: ServerKeys,
  now: number,
  publishForMs: number,
  purpose: KeyPurpose = "tokens",
): Promise<SigningKeyRecord> {
  const record = await createSigningKey(keys, now, purpose);
  await store.transaction(async (tx) => {
    await tx.retireSigningKeys(now, now + publishForMs, purpose);
    await tx.addSigningKey(record);
  });
  await store.flush();
  return record;
}
