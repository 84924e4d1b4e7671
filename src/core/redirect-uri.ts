/**
 * Redirect URI registration and matching. Matching is exact string comparison (RFC 9700 §2.1);
 * only the Cal.com dialect opts into anchored `*` globs, because its clients register them.
 */
/** What `isRegistrableRedirectUri` asks, in words for whoever registers one. */
export const REDIRECT_URI_RULE =
  "use an absolute https URL written out as https://host/... (or http on localhost, 127.0.0.1 or [::1]) of printable ASCII, without a backslash, fragment or credentials";

/** The scheme and authority as written, which URL parsing would otherwise repair or rewrite. */
const WRITTEN_AUTHORITY = /^https?:\/\/([^/?#]*)/i;

export function isRegistrableRedirectUri(value: string): boolean {
  // Printable ASCII only: anything else must be percent-encoded, or it could not go in a Location header.
  if (!/^[\x21-\x7e]+$/.test(value)) return false;
  // Matched as written, the URI must say where a browser goes: `https:a.example/cb` and a
  // backslash are repaired by browsers into other URLs, and `127.1` is a loopback name only once parsed.
  // A Cal.com glob's `*` parses as a name like any other.
  const parsable = value.replaceAll("*", "wildcard");
  const written = WRITTEN_AUTHORITY.exec(parsable);
  if (!written || value.includes("\\")) return false;
  const writtenHost = (written[1] ?? "").replace(/:\d*$/, "").toLowerCase();
  let url: URL;
  try {
    url = new URL(parsable);
  } catch {
    return false;
  }
  if (url.hash !== "" || value.includes("#")) return false;
  if (url.username !== "" || url.password !== "") return false;
  // The host as written must be the host parsed: not empty (`https:///a.example`), not rewritten.
  if (writtenHost !== url.hostname) return false;
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackOrLocal(url.hostname));
}

function isLoopbackOrLocal(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "[::1]" || hostname === "localhost";
}

/** A registered entry with `*` is a Cal.com glob, never a URI: no exact match or default names it. */
const isGlob = (entry: string) => entry.includes("*");

export function matchesExactly(candidate: string, registered: readonly string[]): boolean {
  return !isGlob(candidate) && registered.includes(candidate);
}

/** The redirect URI a request that names none gets: the first registered one that is not a glob. */
export function defaultRedirectUri(registered: readonly string[]): string | undefined {
  return registered.find((entry) => !isGlob(entry));
}

export function matchesWithGlobs(candidate: string, registered: readonly string[]): boolean {
  return registered.some((entry) => (isGlob(entry) ? matchesGlob(compileGlob(entry), candidate) : entry === candidate));
}

const isHostCharacter = (c: string) => /^[A-Za-z0-9.-]$/.test(c);
const isUriCharacter = (c: string) => /^[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]$/.test(c);

/** A `*` in the host, and one after it: each repeats characters of its own class. */
const HOST_STAR = 1;
const URI_STAR = 2;

/** A glob as a sequence of steps: a character to match as is, or a star. */
type GlobStep = string | typeof HOST_STAR | typeof URI_STAR;

/**
 * `*` matches any run of characters, as Cal.com documents, except that inside the host it
 * matches only host characters: `https://*.example.com` must not match `https://evil.com/.example.com`.
 * After the host it matches only URI characters (RFC 3986) other than `#`, so whatever it lets
 * through is also a valid `Location` header value. A run of stars is one star.
 */
export function compileGlob(pattern: string): GlobStep[] {
  const schemeEnd = pattern.indexOf("://");
  const pathStart = schemeEnd < 0 ? -1 : pattern.indexOf("/", schemeEnd + 3);
  const authorityEnd = pathStart < 0 ? pattern.length : pathStart;
  const steps: GlobStep[] = [];
  [...pattern].forEach((c, i) => {
    const step = c !== "*" ? c : i < authorityEnd ? HOST_STAR : URI_STAR;
    if (typeof step === "string" || steps.at(-1) !== step) steps.push(step);
  });
  return steps;
}

/**
 * Whether `candidate` matches the whole glob. The steps are followed as a set of positions, one
 * character at a time, so the time grows with the candidate's length times the glob's, whatever
 * either holds. A regular expression with a run of stars backtracked for minutes on a 16 KiB
 * body: one signed-in request could hold the event loop that long.
 */
function matchesGlob(steps: GlobStep[], candidate: string): boolean {
  let current = new Uint8Array(steps.length + 1);
  let next = new Uint8Array(steps.length + 1);
  const skipStars = (positions: Uint8Array) => {
    for (let i = 0; i < steps.length; i++) if (positions[i] && typeof steps[i] === "number") positions[i + 1] = 1;
  };
  current[0] = 1;
  skipStars(current);
  for (const c of candidate) {
    // Each class is tested once a character, not once a star.
    const host = isHostCharacter(c);
    const uri = isUriCharacter(c);
    next.fill(0);
    let any = false;
    for (let i = 0; i < steps.length; i++) {
      if (!current[i]) continue;
      const step = steps[i];
      if (step === c) next[i + 1] = 1;
      else if ((step === HOST_STAR && host) || (step === URI_STAR && uri)) next[i] = 1;
      else continue;
      any = true;
    }
    if (!any) return false;
    skipStars(next);
    [current, next] = [next, current];
  }
  return current[steps.length] === 1;
}

/** Appends query parameters to a redirect URI byte for byte as registered, keeping any query it has. */
export function withQuery(redirectUri: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) query.append(name, value);
  }
  const separator = redirectUri.includes("?") ? "&" : "?";
  return `${redirectUri}${separator}${query.toString()}`;
}
