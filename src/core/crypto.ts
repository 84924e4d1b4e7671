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

/**
 * Milliseconds since the epoch as 12 hex digits (enough until the year 10889): strings that
 * begin with it sort by creation time.
 */
export function timePrefix(now: number): string {
  const ms = Math.max(0, Math.floor(now));
  // Tokens minted together share their millisecond; number-to-hex conversion is a runtime call.
  if (ms !== lastPrefixMs) {
    lastPrefixMs = ms;
    lastPrefix = ms.toString(16).padStart(12, "0");
  }
  return lastPrefix;
}

let lastPrefixMs = -1;
let lastPrefix = "";

const ORDERED_TOKEN = /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/;
const HEX_PREFIX = /^[0-9a-f]{12}/;
/** How a JWT's payload begins when its first claim is a time-ordered `jti`. */
const ORDERED_CLAIMS = '{"jti":"';

/**
 * A new id or secret that sorts by creation time: its mint time, then `bytes` random bytes (256
 * bits by default). The time is not secret (it is the row's creation time). `hashToken` stores a
 * 32-byte one presented on its own (a code, an opaque refresh token), or one that is the `jti`
 * opening a JWT's payload, under a key that begins with that time.
 */
export function orderedToken(now: number, bytes = 32): string {
  return timePrefix(now) + randomToken(bytes);
}

/**
 * The time prefix a token carries: at the start of an ordered opaque token, or at the start of the
 * `jti` claim that opens an ordered JWT's payload. Tokens minted without one have none.
 */
function timePrefixOf(token: string): string | undefined {
  if (ORDERED_TOKEN.test(token)) return token.slice(0, 12);
  const payload = token.indexOf(".") + 1;
  if (payload === 0) return undefined;
  // 28 base64url characters hold the payload's first 21 bytes: the opening and the 12-digit prefix.
  const opening = Buffer.from(token.slice(payload, payload + 28), "base64url").toString("latin1");
  if (!opening.startsWith(ORDERED_CLAIMS)) return undefined;
  const prefix = opening.slice(ORDERED_CLAIMS.length, ORDERED_CLAIMS.length + 12);
  return HEX_PREFIX.test(prefix) ? prefix : undefined;
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

/** SHA-256 reads its input in blocks of this many bytes; HMAC pads its key to one block. */
const SHA256_BLOCK = 64;
/** The longest input `KeyedSha256` hashes in its own buffer: 4096 UTF-16 units are at most 3 bytes each. */
const KEYED_INPUT_CHARS = 4096;

/**
 * HMAC-SHA256 (RFC 2104) under one fixed key, byte for byte what `createHmac` returns. Node's
 * `createHmac` sets up an OpenSSL context for every call, which costs about three times the
 * hashing itself; here the padded keys are laid out once, and each call is two one-shot hashes:
 * SHA-256(key ^ opad || SHA-256(key ^ ipad || input)).
 */
export class KeyedSha256 {
  private readonly key: Buffer;
  private readonly inner = Buffer.alloc(SHA256_BLOCK + 3 * KEYED_INPUT_CHARS);
  private readonly outer = Buffer.alloc(SHA256_BLOCK + 32);

  constructor(key: Buffer) {
    this.key = Buffer.from(key);
    const block = key.length > SHA256_BLOCK ? hash("sha256", key, "buffer") : key;
    for (let i = 0; i < SHA256_BLOCK; i++) {
      const byte = block[i] ?? 0;
      this.inner[i] = byte ^ 0x36;
      this.outer[i] = byte ^ 0x5c;
    }
  }

  base64url(input: string): string {
    if (input.length > KEYED_INPUT_CHARS) return createHmac("sha256", this.key).update(input).digest("base64url");
    this.hashInner(input);
    return hash("sha256", this.outer, "base64url");
  }

  /** The MAC's first `bytes` bytes, base64url: `createHmac(...).digest().subarray(0, bytes)` encoded. */
  truncatedBase64url(input: string, bytes: number): string {
    if (input.length > KEYED_INPUT_CHARS) {
      return createHmac("sha256", this.key).update(input).digest().subarray(0, bytes).toString("base64url");
    }
    this.hashInner(input);
    return hash("sha256", this.outer, "buffer").subarray(0, bytes).toString("base64url");
  }

  /** Puts SHA-256(key ^ ipad || input) in place after the outer pad. */
  private hashInner(input: string): void {
    const end = SHA256_BLOCK + this.inner.write(input, SHA256_BLOCK, "utf8");
    // A "binary" (latin1) string carries the 32 digest bytes unchanged; asking for a Buffer costs far more.
    const innerDigest = hash("sha256", this.inner.subarray(0, end), "binary");
    this.inner.fill(0, SHA256_BLOCK, end);
    this.outer.write(innerDigest, SHA256_BLOCK, "latin1");
  }
}

/** Pairwise ids are a pure function of the pair; this many are remembered before starting over. */
const PAIRWISE_CACHE_SIZE = 10_000;

/**
 * The server's secret split into independent keys, one per purpose, so that a key
 * exposed through one use (say a pairwise subject) tells nothing about the others.
 */
export class ServerKeys {
  readonly tokenHash: Buffer;
  private readonly tokenHmac: KeyedSha256;
  readonly subject: Buffer;
  private readonly subjectHmac: KeyedSha256;
  readonly csrf: Buffer;
  private readonly deviceHmac: KeyedSha256;
  private readonly limiterHmac: KeyedSha256;
  private readonly calRefreshHmac: KeyedSha256;
  readonly keyEncryption: Buffer;
  private readonly secretCheckKey: Buffer;
  private readonly pairwiseIds = new Map<string, string>();

  constructor(secret: string) {
    if (secret.length < 32) throw new Error("KEYWARD_SECRET must be at least 32 characters long");
    const derive = (purpose: string) => Buffer.from(hkdfSync("sha256", secret, "keyward", purpose, 32));
    this.tokenHash = derive("token-hash");
    this.subject = derive("pairwise-subject");
    this.csrf = derive("csrf");
    this.deviceHmac = new KeyedSha256(derive("trusted-device"));
    this.limiterHmac = new KeyedSha256(derive("rate-limit-name"));
    this.calRefreshHmac = new KeyedSha256(derive("cal-refresh-token"));
    this.keyEncryption = derive("signing-key-encryption");
    this.secretCheckKey = derive("secret-check");
    this.tokenHmac = new KeyedSha256(this.tokenHash);
    this.subjectHmac = new KeyedSha256(this.subject);
  }

  /**
   * The key under which a code, token, secret or session id is stored: its keyed hash, after the
   * token's time prefix when it has one. Keys of tokens minted together then sit side by side in
   * the index rather than on random pages, so a commit writes (and a checkpoint copies) a few
   * pages instead of one per token. The prefix is read from the presented token itself, so a token
   * minted without one still finds its row.
   */
  hashToken(token: string): string {
    const digest = this.tokenHmac.base64url(token);
    const prefix = timePrefixOf(token);
    return prefix === undefined ? digest : prefix + digest;
  }

  /**
   * The HS256 signature of a Cal.com refresh token's signing input. No published key verifies
   * it, so no resource server can take a refresh token for an access token.
   */
  calRefreshSignature(signingInput: string): string {
    return this.calRefreshHmac.base64url(signingInput);
  }

  /** The user's id as one client sees it: stable for that client, unlinkable across clients. */
  pairwiseId(clientId: string, userId: string): string {
    const pair = `${clientId}\u0000${userId}`;
    let id = this.pairwiseIds.get(pair);
    if (id === undefined) {
      id = this.subjectHmac.truncatedBase64url(pair, 16);
      if (this.pairwiseIds.size >= PAIRWISE_CACHE_SIZE) this.pairwiseIds.clear();
      this.pairwiseIds.set(pair, id);
    }
    return id;
  }

  /** A keyed hash of a constant: equal for processes that hold the same secret, and telling nothing of it. */
  secretCheck(): string {
    return createHmac("sha256", this.secretCheckKey).update("keyward secret check").digest("base64url");
  }

  csrfToken(binding: string): string {
    return createHmac("sha256", this.csrf).update(binding).digest("base64url");
  }

  /**
   * What a rate limit counts an account's email under: the same on every instance with this
   * secret, and no email in the limiter's store (Redis) for anyone who reads it.
   */
  limiterName(email: string): string {
    return this.limiterHmac.truncatedBase64url(email, 16);
  }

  /** The tag that vouches a browser once signed in to an account (see trusted-devices.ts). */
  deviceTag(input: string, bytes: number): string {
    return this.deviceHmac.truncatedBase64url(input, bytes);
  }
}
