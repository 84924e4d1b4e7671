import { createHmac, hash, hkdfSync, randomFillSync, timingSafeEqual } from "node:crypto";

/**
 * Random bytes drawn from the CSPRNG 4 KiB at a time: one call into OpenSSL serves about a
 * hundred tokens instead of one. Each byte is handed out once and then overwritten.
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** `bytes` random bytes (32 by default), base64url: 32 bytes carry 256 bits of entropy in 43 characters. */
export function randomToken(bytes = 32): string {
  if (bytes > pool.length) throw new RangeError(`randomToken draws at most ${pool.length} bytes`);
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const start = poolOffset;
  poolOffset += bytes;
  const token = pool.toString("base64url", start, poolOffset);
  pool.fill(0, start, poolOffset);
  return token;
}

export function sha256Base64url(input: string): string {
  return hash("sha256", input, "base64url");
}

/**
 * Compares two strings without leaking, through timing, where they first differ. Strings of the
 * same byte length (keyed hashes, CSRF tokens) are compared as they are; others through a digest,
 * so only whether the lengths match can show.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  if (left.length === right.length) return timingSafeEqual(left, right);
  return timingSafeEqual(hash("sha256", left, "buffer"), hash("sha256", right, "buffer"));
}

/** Pairwise ids are a pure function of the pair; this many are remembered before starting over. */
const PAIRWISE_CACHE_SIZE = 10_000;

/**
 * The server's secret split into independent keys, one per purpose, so that a key
 * exposed through one use (say a pairwise subject) tells nothing about the others.
 */
export class ServerKeys {
  readonly tokenHash: Buffer;
  readonly subject: Buffer;
  readonly csrf: Buffer;
  readonly keyEncryption: Buffer;
  private readonly pairwiseIds = new Map<string, string>();

  constructor(secret: string) {
    if (secret.length < 32) throw new Error("KEYWARD_SECRET must be at least 32 characters long");
    const derive = (purpose: string) => Buffer.from(hkdfSync("sha256", secret, "keyward", purpose, 32));
    this.tokenHash = derive("token-hash");
    this.subject = derive("pairwise-subject");
    this.csrf = derive("csrf");
    this.keyEncryption = derive("signing-key-encryption");
  }

  /** Keyed hash under which codes, tokens, secrets and session ids are stored. */
  hashToken(token: string): string {
    return createHmac("sha256", this.tokenHash).update(token).digest("base64url");
  }

  /** The user's id as one client sees it: stable for that client, unlinkable across clients. */
  pairwiseId(clientId: string, userId: string): string {
    const pair = `${clientId}\u0000${userId}`;
    let id = this.pairwiseIds.get(pair);
    if (id === undefined) {
      id = createHmac("sha256", this.subject).update(pair).digest().subarray(0, 16).toString("base64url");
      if (this.pairwiseIds.size >= PAIRWISE_CACHE_SIZE) this.pairwiseIds.clear();
      this.pairwiseIds.set(pair, id);
    }
    return id;
  }

  csrfToken(binding: string): string {
    return createHmac("sha256", this.csrf).update(binding).digest("base64url");
  }
}
