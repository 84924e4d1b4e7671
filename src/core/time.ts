/** Milliseconds since the epoch as the whole seconds that JWT claims and JSON APIs carry. */
export const seconds = (ms: number) => Math.floor(ms / 1000);
