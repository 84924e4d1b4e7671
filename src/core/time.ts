/** Milliseconds since the epoch as the whole seconds that JWT claims and JSON APIs carry. */
export const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * An expiry a JWT's whole-second `exp` states exactly: without it, a token stored to expire at
 * x.600 would outlive the `exp` of x that its JWT shows every resource server by 600 ms.
 */
export const atWholeSecond = (ms: number) => Math.floor(ms / 1000) * 1000;
