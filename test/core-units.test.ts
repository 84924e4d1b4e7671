import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, hkdfSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { AdminAuthThrottle } from "../src/core/admin-throttle.js";
import { newGrantId } from "../src/core/authorization.js";
import { generateClientId, generateClientSecret } from "../src/core/clients.js";
import { ConcurrencyLimit } from "../src/core/concurrency-limit.js";
import {
  constantTimeEqual,
  KeyedSha256,
  orderedToken,
  randomToken,
  ServerKeys,
  timePrefix,
} from "../src/core/crypto.js";
import { HeaderEncoder, signEs256Jwt, signWithEncodedHeader } from "../src/core/jws.js";
import { hashPassword, verifyPassword } from "../src/core/passwords.js";
import { isSupportedChallengeMethod, isWellFormedChallenge, verifierMatches } from "../src/core/pkce.js";
import { addressKey, decide, MemoryRateLimiter } from "../src/core/rate-limit.js";
import {
  compileGlob,
  isRegistrableRedirectUri,
  matchesExactly,
  matchesWithGlobs,
  withQuery,
} from "../src/core/redirect-uri.js";
import { isSubset, missingScopes, parseScope } from "../src/core/scopes.js";
import { SignInThrottle } from "../src/core/sign-in-throttle.js";
import { rememberDevice, TRUSTED_ACCOUNTS_PER_DEVICE, trustedDevice } from "../src/core/trusted-devices.js";
import { checkEmail, isPlausibleEmail } from "../src/core/users.js";
import { pkcePair, TEST_SECRET } from "./support/harness.js";

describe("pkce", () => {
  test("accepts S256 in either case and nothing else", () => {
    assert.ok(isSupportedChallengeMethod("S256"));
    assert.ok(isSupportedChallengeMethod("s256"));
    assert.ok(!isSupportedChallengeMethod("plain"));
    assert.ok(!isSupportedChallengeMethod(undefined));
  });

  test("verifies a verifier against its challenge (RFC 7636 appendix B)", () => {
    const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert.ok(isWellFormedChallenge(challenge));
    assert.ok(verifierMatches(verifier, challenge));
    assert.ok(!verifierMatches(`${verifier}x`, challenge));
    assert.ok(!verifierMatches(challenge, challenge));
  });

  test("refuses verifiers outside 43..128 unreserved characters", () => {
    const { challenge } = pkcePair();
    assert.ok(!verifierMatches("short", challenge));
    assert.ok(!verifierMatches("a".repeat(129), challenge));
    assert.ok(!verifierMatches(`${"a".repeat(42)}!`, challenge));
  });
});

describe("redirect URIs", () => {
  test("exact matching is byte for byte", () => {
    const registered = ["https://app.example/cb"];
    assert.ok(matchesExactly("https://app.example/cb", registered));
    for (const attempt of [
      "https://app.example/cb/",
      "https://app.example/cb/extra",
      "https://APP.example/cb",
      "https://app.example/CB",
      "https://app.example/cb?x=1",
      "https://app.example/cb#frag",
      "https://user@app.example/cb",
      "https://app.example/%63b",
      "https://app.example.evil.com/cb",
    ]) {
      assert.ok(!matchesExactly(attempt, registered), attempt);
    }
  });

  test("globs are anchored and keep * inside the host to host characters", () => {
    const registered = ["https://*.example.com/*"];
    assert.ok(matchesWithGlobs("https://app.example.com/callback", registered));
    assert.ok(matchesWithGlobs("https://a.b.example.com/x/y?z=1", registered));
    assert.ok(!matchesWithGlobs("https://evil.com/.example.com/", registered));
    assert.ok(!matchesWithGlobs("https://evil.com?.example.com/", registered));
    assert.ok(!matchesWithGlobs("https://user@evil.com#.example.com/", registered));
    assert.ok(!matchesWithGlobs("http://app.example.com/callback", registered));
    assert.ok(!matchesWithGlobs("https://app.example.com.evil.net/x", ["https://app.example.com*"]));
  });

  test("a run of stars in a glob is one star, so its matching costs no more than one", () => {
    const base = "https://a.example.com/";
    assert.equal(compileGlob(`${base}${"*".repeat(1500)}`).length, base.length + 1);
    assert.equal(compileGlob("https://***.example.com/").length, "https://*.example.com/".length);
    assert.equal(compileGlob("https://a*.b/*x*").length, "https://a*.b/*x*".length);
  });

  test("glob matching agrees with the anchored regular expression it replaces, on random candidates", () => {
    // The regular expression the globs were once matched with: right, but it backtracked without bound.
    const oracle = (pattern: string) => {
      const pathStart = pattern.indexOf("/", pattern.indexOf("://") + 3);
      const authorityEnd = pathStart < 0 ? pattern.length : pathStart;
      const translate = (part: string, wildcard: string) =>
        part
          .split("*")
          .map((piece) => piece.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
          .join(wildcard);
      const host = translate(pattern.slice(0, authorityEnd), "[A-Za-z0-9.-]*");
      const rest = translate(pattern.slice(authorityEnd), "[A-Za-z0-9\\-._~:/?\\[\\]@!$&'()*+,;=%]*");
      return new RegExp(`^${host}${rest}$`);
    };
    const patterns = [
      "https://*.example.com/*",
      "https://*.*.a.b/*/c*",
      "https://a.b*",
      "http://localhost:*/cb?x=*",
      "https://a**.b/**c",
    ];
    const alphabet = [
      "a",
      "b",
      "c",
      ".",
      "/",
      "?",
      "#",
      "@",
      ":",
      "x",
      "=",
      "-",
      "é",
      "https://",
      "example.com",
      "localhost",
    ];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed >>> 16) % n;
    };
    for (const pattern of patterns) {
      const expected = oracle(pattern);
      let matched = 0;
      for (let i = 0; i < 3000; i++) {
        // Each star filled with a few random pieces, some of which only one kind of star may take.
        const fill = () => Array.from({ length: random(4) }, () => alphabet[random(alphabet.length)]).join("");
        const candidate = pattern.replaceAll("*", fill) + (random(8) === 0 ? fill() : "");
        const matches = expected.test(candidate);
        if (matches) matched++;
        assert.equal(matchesWithGlobs(candidate, [pattern]), matches, `${pattern} ${candidate}`);
      }
      assert.ok(matched > 300 && matched < 2700, `${pattern}: ${matched} of 3000 matched`);
      const literal = pattern.replaceAll("*", "a");
      assert.ok(matchesWithGlobs(literal, [pattern]), literal);
    }
  });

  test("a long candidate against a glob of several stars is answered at once, not after minutes of backtracking", () => {
    const started = process.hrtime.bigint();
    const candidate = `https://${".".repeat(16_000)}!`;
    assert.ok(!matchesWithGlobs(candidate, ["https://*.*.*.example.com/*", "https://app.example.com/*/*/*"]));
    // The regular expression took 43 s for 5,000 characters; this bound only catches a return of that.
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000);
  });

  test("registrable redirect URIs", () => {
    assert.ok(isRegistrableRedirectUri("https://app.example/cb"));
    assert.ok(isRegistrableRedirectUri("http://127.0.0.1:3001/cb"));
    assert.ok(isRegistrableRedirectUri("http://localhost:3001/cb"));
    assert.ok(!isRegistrableRedirectUri("http://app.example/cb"));
    assert.ok(!isRegistrableRedirectUri("https://app.example/cb#x"));
    assert.ok(!isRegistrableRedirectUri("https://u:p@app.example/cb"));
    assert.ok(!isRegistrableRedirectUri("javascript:alert(1)"));
    assert.ok(!isRegistrableRedirectUri("not a url"));
    assert.ok(!isRegistrableRedirectUri("https://app.example/caf\u00e9"));
    assert.ok(!isRegistrableRedirectUri("https://app.example/a b"));
    // As written, not as a URL parser repairs it: browsers would go elsewhere than the string matched.
    assert.ok(isRegistrableRedirectUri("http://[::1]:8080/cb"));
    assert.ok(isRegistrableRedirectUri("HTTPS://App.Example/cb"));
    assert.ok(isRegistrableRedirectUri("https://*.example.com/*"), "a Cal.com glob");
    assert.ok(isRegistrableRedirectUri("https://a.example:8443/cb"));
    for (const repaired of [
      "https:a.example/cb",
      "https:/a.example/cb",
      "https:///a.example/cb",
      "https://%61.example/cb",
      "https://127.1/cb",
      "https://a.example\\evil",
      "http://127.1/cb",
    ]) {
      assert.ok(!isRegistrableRedirectUri(repaired), repaired);
    }
  });

  test("query parameters are appended after an existing query", () => {
    assert.equal(withQuery("https://a.example/cb", { code: "x y", state: undefined }), "https://a.example/cb?code=x+y");
    assert.equal(withQuery("https://a.example/cb?v=1", { code: "c" }), "https://a.example/cb?v=1&code=c");
  });
});

describe("emails", () => {
  test("one @ with something on each side, and no whitespace or control character", () => {
    for (const good of ["a@b", "ada@example.com", "ädä+x@例え.jp"]) assert.ok(isPlausibleEmail(good), good);
    for (const bad of ["nope", "@b", "a@", "a@b@c", "a b@c", "a\u0000b@c", "a@b\u0007", "a@b\u0085", "a\t@b"]) {
      assert.ok(!isPlausibleEmail(bad), JSON.stringify(bad));
    }
    assert.ok(!isPlausibleEmail(`${"a".repeat(251)}@b.c`), "longer than SMTP carries");
    const lengthened = `${"İ".repeat(40)}${"a".repeat(200)}@b.c`;
    assert.equal(lengthened.length, 244);
    assert.equal(checkEmail(lengthened).ok, false, "longer than that once lower-cased, as it is stored");
    assert.equal(checkEmail(` ${"İ".repeat(10)}@b.c `).ok, true);
  });
});

describe("scopes", () => {
  test("parse, subset and difference", () => {
    assert.deepEqual(parseScope(" a  b a "), ["a", "b"]);
    assert.deepEqual(parseScope(undefined), []);
    assert.ok(isSubset(["a"], ["a", "b"]));
    assert.ok(!isSubset(["asset:read"], ["asset:write"]));
    assert.deepEqual(missingScopes(["a", "c"], ["a", "b"]), ["c"]);
  });
});

describe("keys and hashing", () => {
  const keys = new ServerKeys(TEST_SECRET);

  test("keyed hashes depend on the secret", () => {
    const other = new ServerKeys(`${TEST_SECRET}-other`);
    assert.equal(keys.hashToken("abc"), keys.hashToken("abc"));
    assert.notEqual(keys.hashToken("abc"), other.hashToken("abc"));
    assert.notEqual(keys.hashToken("abc"), keys.hashToken("abd"));
  });

  test("pairwise ids are stable per client and differ across clients", () => {
    const a = keys.pairwiseId("OC-a", "user-1");
    assert.equal(a, keys.pairwiseId("OC-a", "user-1"));
    assert.notEqual(a, keys.pairwiseId("OC-b", "user-1"));
    assert.notEqual(a, keys.pairwiseId("OC-a", "user-2"));
    assert.notEqual(a, "user-1");
  });

  test("a pairwise id is HMAC-SHA256 of client and user under the subject key, its first 16 bytes, base64url", () => {
    // Integrations store these ids: how they are computed may never change.
    const expected = createHmac("sha256", keys.subject).update("OC-a\u0000user-1").digest().subarray(0, 16);
    assert.equal(keys.pairwiseId("OC-a", "user-1"), expected.toString("base64url"));
  });

  test("remembered pairwise ids stay what a fresh key set computes, past the cache's size", () => {
    const cached = new ServerKeys(TEST_SECRET);
    const ids = Array.from({ length: 10_050 }, (_, i) => cached.pairwiseId("OC-a", `user-${i}`));
    const fresh = new ServerKeys(TEST_SECRET);
    for (const i of [0, 1, 9_999, 10_000, 10_049]) {
      assert.equal(cached.pairwiseId("OC-a", `user-${i}`), ids[i]);
      assert.equal(fresh.pairwiseId("OC-a", `user-${i}`), ids[i]);
    }
    assert.equal(new Set(ids).size, ids.length);
  });

  test("a Cal.com refresh token's signature is HS256 under a key derived from the secret, of no other use", async () => {
    const input = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicmVmcmVzaF90b2tlbiJ9";
    const key = Buffer.from(hkdfSync("sha256", TEST_SECRET, "keyward", "cal-refresh-token", 32));
    const jwt = `${input}.${keys.calRefreshSignature(input)}`;
    const { payload } = await jwtVerify(jwt, key, { algorithms: ["HS256"] });
    assert.equal(payload.type, "refresh_token");
    assert.notEqual(keys.calRefreshSignature(input), keys.hashToken(input));
    assert.notEqual(keys.calRefreshSignature(input), new ServerKeys(`${TEST_SECRET}-other`).calRefreshSignature(input));
  });

  test("refuses a short secret", () => {
    assert.throws(() => new ServerKeys("short"), /at least 32/);
  });

  test("constant-time equality", () => {
    assert.ok(constantTimeEqual("abc", "abc"));
    assert.ok(!constantTimeEqual("abc", "abd"));
    assert.ok(!constantTimeEqual("abc", "abcd"));
    assert.ok(constantTimeEqual("héllo", "héllo"));
    assert.ok(!constantTimeEqual("héllo", "hello"), "same length in characters, not in bytes");
    assert.ok(!constantTimeEqual("", "a"));
  });

  test("random tokens never repeat, across many refills of the pool", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const token = randomToken(i % 2 === 0 ? 32 : 16);
      assert.equal(token.length, i % 2 === 0 ? 43 : 22);
      assert.ok(!seen.has(token));
      seen.add(token);
    }
    assert.throws(() => randomToken(5000), RangeError);
  });

  test("an ES256 JWT signed here verifies with jose and carries what it was given", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwt = await signEs256Jwt(
      { alg: "ES256", kid: "k1", typ: "at+jwt" },
      { sub: "s", exp: 4102444800 },
      privateKey,
    );
    const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, { typ: "at+jwt" });
    assert.deepEqual(payload, { sub: "s", exp: 4102444800 });
    assert.deepEqual(protectedHeader, decodeProtectedHeader(jwt));
    assert.equal(protectedHeader.kid, "k1");
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    await assert.rejects(jwtVerify(jwt, other), /signature verification failed/);
  });

  test("a token format's encoded header follows its signing key", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const headers = new HeaderEncoder("ES256", "at+jwt");
    for (const kid of ["k1", "k1", "k2", "k1"]) {
      const jwt = await signWithEncodedHeader(headers.encode(kid), { sub: "s" }, privateKey);
      const { protectedHeader } = await jwtVerify(jwt, publicKey, { typ: "at+jwt" });
      assert.deepEqual(protectedHeader, { alg: "ES256", kid, typ: "at+jwt" });
    }
  });

  test("client credentials look like Canva's and carry 256 bits", () => {
    const secret = generateClientSecret();
    assert.match(generateClientId(), /^OC-[A-Za-z0-9_-]{12}$/);
    assert.match(secret, /^cnvca[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateClientSecret(), secret);
  });
});

describe("keyed SHA-256", () => {
  const reference = (key: Buffer, input: string) => createHmac("sha256", key).update(input).digest("base64url");
  const keyLengths = [0, 1, 32, 63, 64, 65, 200];

  test("equals createHmac for any key length and any text, surrogates and long inputs included", () => {
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.string({ unit: fc.constantFrom("a", "é", "\ud83d", "\ude00", "😀", "\u0000"), maxLength: 50 }),
      fc.integer({ min: 4090, max: 4100 }).map((length) => "€".repeat(length)),
    );
    fc.assert(
      fc.property(fc.constantFrom(...keyLengths), fc.array(text, { maxLength: 4 }), (keyLength, inputs) => {
        const key = Buffer.from(Array.from({ length: keyLength }, (_, i) => (i * 151 + keyLength) & 0xff));
        const keyed = new KeyedSha256(key);
        for (const input of inputs) {
          assert.equal(keyed.base64url(input), reference(key, input));
          const digest = createHmac("sha256", key).update(input).digest();
          assert.equal(keyed.truncatedBase64url(input, 16), digest.subarray(0, 16).toString("base64url"));
        }
      }),
      { numRuns: 300 },
    );
  });

  test("one input leaves nothing behind for the next: a long then a short input hash as they would alone", () => {
    const key = Buffer.from("k".repeat(32));
    const keyed = new KeyedSha256(key);
    keyed.base64url("x".repeat(3000));
    assert.equal(keyed.base64url("x"), reference(key, "x"));
    assert.equal(keyed.base64url(""), reference(key, ""));
  });
});

describe("time-ordered storage keys", () => {
  const keys = new ServerKeys(TEST_SECRET);
  const plainHmac = (token: string) => createHmac("sha256", keys.tokenHash).update(token).digest("base64url");
  const times = [0, 1, 999, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_800_000];

  test("the time prefix is the millisecond in 12 hex digits, whichever time came before", () => {
    for (const [time, prefix] of [
      [1_700_000_000_000, "018bcfe56800"],
      [1_700_000_000_000.9, "018bcfe56800"],
      [1, "000000000001"],
      [1, "000000000001"],
      [4_102_444_800_000, "03bb2cc3d800"],
      [-5, "000000000000"],
      [1_700_000_000_000, "018bcfe56800"],
    ] as const) {
      assert.equal(timePrefix(time), prefix, `time ${time}`);
    }
  });

  test("codes and refresh tokens carry their mint time, and their keys sort by it", () => {
    const keysInOrder = times.map((time) => {
      const token = orderedToken(time);
      assert.match(token, /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
      assert.equal(token.slice(0, 12), timePrefix(time));
      const key = keys.hashToken(token);
      assert.equal(key, timePrefix(time) + plainHmac(token));
      return key;
    });
    assert.deepEqual([...keysInOrder].sort(), keysInOrder);
  });

  test("a JWT whose payload opens with a time-ordered jti is keyed under that time", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const header = { alg: "ES256", kid: "k1", typ: "at+jwt" };
    const jti = `${timePrefix(1_700_000_000_123)}${randomToken(16)}`;
    const ordered = await signEs256Jwt(header, { jti, sub: "s" }, privateKey);
    assert.equal(keys.hashToken(ordered), timePrefix(1_700_000_000_123) + plainHmac(ordered));
    // The same jti anywhere but first, or a jti that is not a time, gives no prefix.
    const later = await signEs256Jwt(header, { sub: "s", jti }, privateKey);
    assert.equal(keys.hashToken(later), plainHmac(later));
    const random = await signEs256Jwt(header, { jti: randomToken(16), sub: "s" }, privateKey);
    assert.equal(keys.hashToken(random), plainHmac(random));
  });

  test("tokens minted without a time prefix keep the key they were stored under", () => {
    for (const token of [randomToken(32), generateClientSecret(), "abc", "a.b", "a.b.c", `${timePrefix(5)}short`]) {
      assert.equal(keys.hashToken(token), plainHmac(token), token);
    }
  });

  test("the whole token is hashed: changing the prefix or the secret changes the key", () => {
    const token = orderedToken(1_700_000_000_000);
    const otherTime = timePrefix(1_700_000_000_001) + token.slice(12);
    const otherSecret = token.slice(0, 12) + randomToken(32);
    assert.notEqual(keys.hashToken(otherTime).slice(12), keys.hashToken(token).slice(12));
    assert.notEqual(keys.hashToken(otherSecret), keys.hashToken(token));
  });
});

describe("lineage ids", () => {
  test("sort by creation time and never repeat", () => {
    const times = [0, 1, 999, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_800_000];
    const pairs = times.map((time) => [newGrantId(time), newGrantId(time)].sort());
    // Each id sorts before every id of a later time.
    pairs.reduce((earlier, later) => {
      assert.ok(`${earlier[1]}` < `${later[0]}`, `${earlier[1]} sorts before ${later[0]}`);
      return later;
    });
    const ids = pairs.flat();
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe("passwords", () => {
  test("scrypt hashes verify only the right password", async () => {
    const hash = await hashPassword("correct horse");
    assert.match(hash, /^scrypt\$32768\$8\$1\$/);
    assert.ok(await verifyPassword("correct horse", hash));
    assert.ok(!(await verifyPassword("correct horsf", hash)));
    assert.ok(!(await verifyPassword("x", "garbage")));
  });

  test("a burst of password checks leaves thread-pool room for the disk syncs that answers wait on", async () => {
    const stored = await hashPassword("right");
    const directory = mkdtempSync(join(tmpdir(), "keyward-pool-"));
    const file = await open(join(directory, "wal"), "w");
    try {
      let checked = 0;
      const burst = Array.from({ length: 40 }, () => verifyPassword("wrong", stored).then(() => checked++));
      await file.datasync();
      const checkedWhenSynced = checked;
      await Promise.all(burst);
      // Without the limit, the sync queued behind the whole burst: about 36 checks came first.
      assert.ok(checkedWhenSynced <= 4, `${checkedWhenSynced} of 40 checks finished before the sync`);
    } finally {
      await file.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("a concurrency limit runs at most its limit at once, the rest in arrival order", async () => {
    const limit = new ConcurrencyLimit(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const releases: Array<() => void> = [];
    const tasks = Array.from({ length: 6 }, (_, i) =>
      limit.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => releases.push(resolve));
        running--;
        if (i === 3) throw new Error("task 3 failed");
        return i;
      }),
    );
    const settled = Promise.allSettled(tasks);
    for (let finished = 0; finished < 6; finished++) {
      while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
      (releases.shift() as () => void)();
    }
    const outcomes = await settled;
    assert.equal(most, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ["fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"],
    );
    assert.equal(await limit.run(async () => "free again"), "free again");
  });
});

describe("rate limits", () => {
  test("a sliding window counts the overlapping part of the previous window", () => {
    assert.deepEqual(decide({ current: 0, previous: 0 }, 1, 1000, 0), { allowed: true, retryAfterMs: 0 });
    // A full window refuses until its end, and then, as the previous window, until enough of it has slid out.
    assert.equal(decide({ current: 1, previous: 0 }, 1, 1000, 200).retryAfterMs, 1800);
    assert.equal(decide({ current: 4, previous: 0 }, 4, 1000, 200).retryAfterMs, 1050);
    for (const [limit, current, at] of [
      [4, 4, 200],
      [5, 5, 0],
      [20, 20, 999],
      [3, 3, 123],
    ] as const) {
      const { retryAfterMs } = decide({ current, previous: 0 }, limit, 1000, at);
      const retry = at + retryAfterMs;
      // At the time it names, the next window (this one's count its previous) allows; a moment before, not.
      assert.equal(decide({ current: 0, previous: current }, limit, 1000, retry).allowed, true, `${limit}`);
      assert.equal(decide({ current: 0, previous: current }, limit, 1000, retry - 2).allowed, false, `${limit}`);
    }
    // Half of a full previous window still overlaps at the middle of the current one.
    assert.equal(decide({ current: 0, previous: 10 }, 6, 1000, 500).allowed, true);
    assert.equal(decide({ current: 1, previous: 10 }, 6, 1000, 500).allowed, false);
    assert.equal(decide({ current: 1, previous: 10 }, 6, 1000, 600).allowed, true);
  });

  test("the memory limiter allows the limit, refuses the next, and recovers", async () => {
    let now = 10_000;
    const limiter = new MemoryRateLimiter(() => now);
    for (let i = 0; i < 3; i++) assert.equal((await limiter.consume("k", 3, 1000)).allowed, true);
    const refused = await limiter.consume("k", 3, 1000);
    assert.equal(refused.allowed, false);
    // The rest of this window, then a third of the next, when one of the three has slid out.
    assert.equal(refused.retryAfterMs, 1334);
    assert.equal((await limiter.consume("other", 3, 1000)).allowed, true);
    now += refused.retryAfterMs - 1;
    assert.equal((await limiter.consume("k", 3, 1000)).allowed, false, "not before the time it named");
    now += 1;
    assert.equal((await limiter.consume("k", 3, 1000)).allowed, true);
    await limiter.close();
  });

  test("the memory limiter answers at once, so a request need not wait a microtask turn for it", async () => {
    const limiter = new MemoryRateLimiter(() => 10_000);
    const first = limiter.consume("k", 1, 1000);
    assert.ok(!(first instanceof Promise));
    assert.equal(first.allowed, true);
    // Every allowed request shares one decision rather than allocating its own.
    assert.equal(limiter.consume("other", 1, 1000), first);
    const refused = limiter.consume("k", 1, 1000);
    assert.ok(!(refused instanceof Promise));
    assert.equal(refused.allowed, false);
    await limiter.close();
  });

  test("the memory limiter weighs the previous window and forgets older ones", async () => {
    let now = 10_000;
    const limiter = new MemoryRateLimiter(() => now);
    const allowed = async () => (await limiter.consume("k", 4, 1000)).allowed;
    for (let i = 0; i < 4; i++) assert.equal(await allowed(), true);
    assert.equal(await allowed(), false);
    now = 11_100; // 90% of the previous window's 4 still counts
    assert.equal(await allowed(), false);
    now = 11_800; // 20% of it does
    assert.equal(await allowed(), true);
    now = 12_000; // the window holding that one request is now the previous one, at full weight
    for (let i = 0; i < 3; i++) assert.equal(await allowed(), true);
    assert.equal(await allowed(), false);
    now = 14_000; // two windows on, nothing is left
    for (let i = 0; i < 4; i++) assert.equal(await allowed(), true);
    assert.equal(await allowed(), false);
    await limiter.close();
  });

  test("the memory limiter's sweep forgets only keys whose counts have slid out", async () => {
    let now = 10_000;
    const limiter = new MemoryRateLimiter(() => now);
    for (let i = 0; i < 2; i++) await limiter.consume("locked", 2, 900_000);
    await limiter.consume("brief", 2, 1000);
    assert.equal(limiter.size, 2);
    now += 3000; // "brief" is two windows old; "locked" is still in its first
    limiter.sweep();
    assert.equal(limiter.size, 1);
    assert.equal((await limiter.consume("locked", 2, 900_000)).allowed, false);
    now += 900_000; // one window on, the last window's two still weigh in
    limiter.sweep();
    assert.equal((await limiter.check("locked", 2, 900_000)).allowed, false);
    now += 900_000; // the window the check rolled it into is now the previous one
    limiter.sweep();
    assert.equal(limiter.size, 1);
    now += 900_000;
    limiter.sweep();
    assert.equal(limiter.size, 0);
    await limiter.close();
  });

  test("sign-in failures lock an account, and an address guessing across accounts", async () => {
    const now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 3, failuresPerAddress: 5, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) assert.equal(await throttle.attempt("a@x", `10.0.0.${i}`), undefined);
    assert.ok(await throttle.attempt("a@x", "10.0.0.9"));
    assert.equal(await throttle.attempt("b@x", "10.0.0.9"), undefined);
    for (let i = 0; i < 5; i++) assert.equal(await throttle.attempt(`user${i}@x`, "10.0.1.1"), undefined);
    assert.ok(await throttle.attempt("fresh@x", "10.0.1.1"));
    assert.equal(await throttle.attempt("fresh@x", "10.0.1.2"), undefined);
    await limiter.close();
  });

  test("sign-in and admin failures from one IPv6 /64 share their address's count", async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    const signIn = new SignInThrottle(limiter, { failuresPerAccount: 100, failuresPerAddress: 2, windowMs: 60_000 });
    assert.equal(await signIn.attempt("a@x", "2001:db8::1"), undefined);
    assert.equal(await signIn.attempt("b@x", "2001:db8::2"), undefined);
    assert.equal((await signIn.attempt("c@x", "2001:db8:0:0:ffff::3"))?.limited, "address");
    assert.equal(await signIn.attempt("d@x", "2001:db8:0:1::1"), undefined, "another /64");
    const admin = new AdminAuthThrottle(limiter, { failuresPerAddress: 1, windowMs: 60_000 });
    await admin.failed("2001:db8:9::1");
    assert.ok(await admin.refusal("2001:db8:9::2"));
    assert.equal(await admin.refusal("2001:db8:a::1"), undefined);
    await limiter.close();
  });

  test("address keys: IPv6 by its /64, IPv4 alone, anything else as given", () => {
    const cases: [string, string][] = [
      ["203.0.113.7", "203.0.113.7"],
      ["::ffff:203.0.113.7", "203.0.113.7"],
      ["::FFFF:203.0.113.7", "203.0.113.7"],
      ["2001:db8::1", "2001:db8:0:0::/64"],
      ["2001:0DB8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::/64"],
      ["2001:db8:0:1:ffff::", "2001:db8:0:1::/64"],
      ["fe80::1%eth0", "fe80:0:0:0::/64"],
      ["64:ff9b::198.51.100.1", "64:ff9b:0:0::/64"],
      ["1:2:3:4:5:6:198.51.100.1", "1:2:3:4::/64"],
      ["1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8:9"],
      ["1::2::3", "1::2::3"],
      ["12345::1", "12345::1"],
      ["1:2:3:4:5:6:7", "1:2:3:4:5:6:7"],
      ["unknown", "unknown"],
    ];
    for (const [address, key] of cases) assert.equal(addressKey(address), key, address);
    assert.equal(addressKey(undefined), "gone", "a client whose connection is gone");
    const madeUp = "x".repeat(8000);
    assert.match(addressKey(madeUp), /^#[A-Za-z0-9_-]{43}$/, "long text is kept as its digest");
    assert.notEqual(addressKey(madeUp), addressKey(`${madeUp}y`));
  });

  test("a browser an account trusts has failures of its own, apart from strangers' browsers", async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 3, failuresPerAddress: 100, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) assert.equal(await throttle.attempt("a@x", "10.0.0.1"), undefined);
    assert.equal((await throttle.attempt("a@x", "10.0.0.2"))?.limited, "account", "strangers are locked out");
    for (let i = 0; i < 3; i++) assert.equal(await throttle.attempt("a@x", "10.0.0.3", "device-1"), undefined);
    assert.equal((await throttle.attempt("a@x", "10.0.0.3", "device-1"))?.limited, "device");
    assert.equal(await throttle.attempt("a@x", "10.0.0.4", "device-2"), undefined, "another trusted browser");
    await throttle.succeeded("a@x", "10.0.0.4", "device-2");
    for (let i = 0; i < 3; i++) assert.equal(await throttle.attempt("a@x", "10.0.0.4", "device-2"), undefined);
    await limiter.close();
  });

  test("a trusted-device cookie vouches for its own accounts only, and cannot be forged", () => {
    const keys = new ServerKeys(TEST_SECRET);
    const cookie = rememberDevice(keys, undefined, "a@x");
    assert.match(cookie, /^[A-Za-z0-9_-]{32}$/);
    const device = trustedDevice(keys, cookie, "a@x");
    assert.ok(device);
    assert.equal(trustedDevice(keys, cookie, "b@x"), undefined, "another account");
    assert.equal(trustedDevice(new ServerKeys(`${TEST_SECRET}-other`), cookie, "a@x"), undefined, "another secret");
    const flipped = cookie.slice(0, 31) + (cookie[31] === "A" ? "B" : "A");
    assert.equal(trustedDevice(keys, flipped, "a@x"), undefined, "a changed tag");
    assert.equal(trustedDevice(keys, `x${cookie.slice(1)}`, "a@x"), undefined, "a changed nonce");
    assert.equal(trustedDevice(keys, `${cookie}x`, "a@x"), undefined, "a cookie of the wrong length");
    assert.equal(trustedDevice(keys, undefined, "a@x"), undefined);
    // Signing in again keeps the device's id, so its count of failures stays its own.
    assert.equal(rememberDevice(keys, cookie, "a@x"), cookie);
    let many = cookie;
    for (const account of ["b@x", "c@x", "d@x"]) many = rememberDevice(keys, many, account);
    assert.equal(many.length, 32 * TRUSTED_ACCOUNTS_PER_DEVICE);
    assert.equal(trustedDevice(keys, many, "a@x"), undefined, "the oldest is forgotten");
    for (const account of ["b@x", "c@x", "d@x"]) assert.ok(trustedDevice(keys, many, account), account);
    const again = rememberDevice(keys, many, "b@x");
    assert.equal(trustedDevice(keys, again, "b@x"), trustedDevice(keys, many, "b@x"));
    assert.ok(trustedDevice(keys, again, "c@x"), "signing in to a remembered account forgets no other");
  });

  test("an attempt its address is refused counts against no account", async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 3, failuresPerAddress: 2, windowMs: 60_000 });
    assert.equal(await throttle.attempt("x@x", "10.0.0.1"), undefined);
    assert.equal(await throttle.attempt("y@x", "10.0.0.1"), undefined);
    for (let i = 0; i < 5; i++) assert.ok(await throttle.attempt("victim@x", "10.0.0.1"));
    for (let i = 0; i < 3; i++) assert.equal(await throttle.attempt("victim@x", `10.0.1.${i}`), undefined);
    await limiter.close();
  });

  test("an email longer than today's accounts may have still counts against its account", async () => {
    // An account stored before emails were checked lower-cased can be longer than 254 characters.
    const limiter = new MemoryRateLimiter(() => 0);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 3, failuresPerAddress: 20, windowMs: 60_000 });
    const long = `${"i\u0307".repeat(40)}${"a".repeat(200)}@b.c`;
    for (let i = 0; i < 3; i++) assert.equal(await throttle.attempt(long, `10.0.0.${i}`), undefined);
    assert.equal((await throttle.attempt(long, "10.0.0.9"))?.limited, "account");
    await limiter.close();
  });

  test("refused by the account and the address, a sign-in waits for the later of the two, reported as the account's", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 5, failuresPerAddress: 20, windowMs: 900_000 });
    // The account's failures in one window, the address's (on other accounts) early in the next.
    for (let i = 0; i < 5; i++) assert.equal(await throttle.attempt("victim@x", `10.0.1.${i}`), undefined);
    now = 990_000;
    for (let i = 0; i < 20; i++) assert.equal(await throttle.attempt(`other${i}@x`, "10.0.0.1"), undefined);
    const refused = await throttle.attempt("victim@x", "10.0.0.1");
    // Reported as the account's refusal, which names the account in the log; the wait is the address's.
    assert.equal(refused?.limited, "account");
    assert.equal(refused?.firstInWindow, true);
    const retry = now + (refused?.retryAfterMs ?? 0);
    now = retry - 1;
    assert.ok(await throttle.attempt("victim@x", "10.0.0.1"), "still refused a moment before");
    now = retry;
    assert.equal(await throttle.attempt("victim@x", "10.0.0.1"), undefined, "allowed at the time it named");
    await limiter.close();
  });

  test("a refusal says which limit refused it, and only the first in a window is to be reported", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 2, failuresPerAddress: 3, windowMs: 60_000 });
    assert.equal(await throttle.attempt("a@x", "10.0.0.1"), undefined);
    assert.equal(await throttle.attempt("a@x", "10.0.0.2"), undefined);
    assert.deepEqual(await throttle.attempt("a@x", "10.0.0.3"), {
      retryAfterMs: 90_000,
      limited: "account",
      firstInWindow: true,
    });
    assert.equal((await throttle.attempt("a@x", "10.0.0.4"))?.firstInWindow, false);
    assert.equal((await throttle.attempt("a@x", "10.0.0.5"))?.firstInWindow, false);
    assert.equal(await throttle.attempt("b@x", "10.0.0.1"), undefined);
    assert.equal(await throttle.attempt("c@x", "10.0.0.1"), undefined);
    const byAddress = await throttle.attempt("d@x", "10.0.0.1");
    assert.equal(byAddress?.limited, "address");
    assert.equal(byAddress?.firstInWindow, true, "each limit has its own first refusal");
    // Two windows on, with the guessing going on, the refusals are news again.
    now += 120_000;
    assert.equal(await throttle.attempt("a@x", "10.0.0.6"), undefined);
    assert.equal(await throttle.attempt("a@x", "10.0.0.7"), undefined);
    assert.equal((await throttle.attempt("a@x", "10.0.0.8"))?.firstInWindow, true);
    await limiter.close();
  });

  test("admin authentication: failures lock an address out, right token or not, until they age out", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const throttle = new AdminAuthThrottle(limiter, { failuresPerAddress: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      assert.equal(await throttle.refusal("10.0.0.1"), undefined);
      await throttle.failed("10.0.0.1");
    }
    assert.deepEqual(await throttle.refusal("10.0.0.1"), { retryAfterMs: 80_000, firstInWindow: true });
    assert.equal((await throttle.refusal("10.0.0.1"))?.firstInWindow, false);
    assert.equal(await throttle.refusal("10.0.0.2"), undefined, "another address is not refused");
    now += 120_000;
    assert.equal(await throttle.refusal("10.0.0.1"), undefined);
    const off = new AdminAuthThrottle(limiter, { failuresPerAddress: 0, windowMs: 60_000 });
    for (let i = 0; i < 10; i++) await off.failed("10.0.0.3");
    assert.equal(await off.refusal("10.0.0.3"), undefined);
    await limiter.close();
  });

  test("a successful sign-in takes its attempt back", async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    const throttle = new SignInThrottle(limiter, { failuresPerAccount: 2, failuresPerAddress: 2, windowMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      assert.equal(await throttle.attempt("a@x", "10.0.0.1"), undefined);
      await throttle.succeeded("a@x", "10.0.0.1");
    }
    assert.equal(await throttle.attempt("a@x", "10.0.0.1"), undefined);
    assert.equal(await throttle.attempt("a@x", "10.0.0.1"), undefined);
    assert.ok(await throttle.attempt("a@x", "10.0.0.1"));
    await limiter.close();
  });
});
