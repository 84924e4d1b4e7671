import { constantTimeEqual, sha256Base64url } from "./crypto.js";

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const S256_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

/** RFC 7636: only S256; the method name is accepted in either case, as Canva's docs use both. */
export function isSupportedChallengeMethod(method: string | undefined): boolean {
  return method !== undefined && method.toUpperCase() === "S256";
}

export function isWellFormedChallenge(challenge: string): boolean {
  return S256_CHALLENGE.test(challenge);
}

function isWellFormedVerifier(verifier: string): boolean {
  return VERIFIER.test(verifier);
}

export function verifierMatches(verifier: string, challenge: string): boolean {
  return isWellFormedVerifier(verifier) && constantTimeEqual(sha256Base64url(verifier), challenge);
}
