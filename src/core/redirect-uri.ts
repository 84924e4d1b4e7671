/**
 * Redirect URI registration and matching. Matching is exact string comparison (RFC 9700 §2.1);
 * only the Cal.com dialect opts into anchored `*` globs, because its clients register them.
 */
export function isRegistrableRedirectUri(value: string): boolean {
  // Printable ASCII only: anything else must be percent-encoded, or it could not go in a Location header.
  if (!/^[\x21-\x7e]+$/.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value.replaceAll("*", "wildcard"));
  } catch {
    return false;
  }
  if (url.hash !== "" || value.includes("#")) return false;
  if (url.username !== "" || url.password !== "") return false;
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackOrLocal(url.hostname));
}

function isLoopbackOrLocal(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "[::1]" || hostname === "localhost";
}

export function matchesExactly(candidate: string, registered: readonly string[]): boolean {
  return registered.includes(candidate);
}

export function matchesWithGlobs(candidate: string, registered: readonly string[]): boolean {
  return registered.some((entry) => (entry.includes("*") ? globToRegExp(entry).test(candidate) : entry === candidate));
}

/**
 * `*` matches any run of characters, as Cal.com documents, except that inside the host it
 * matches only host characters: `https://*.example.com` must not match `https://evil.com/.example.com`.
 * After the host it matches only URI characters (RFC 3986) other than `#`, so whatever it lets
 * through is also a valid `Location` header value.
 */
function globToRegExp(pattern: string): RegExp {
  const schemeEnd = pattern.indexOf("://");
  const pathStart = schemeEnd < 0 ? -1 : pattern.indexOf("/", schemeEnd + 3);
  const authorityEnd = pathStart < 0 ? pattern.length : pathStart;
  const translate = (part: string, wildcard: string) =>
    part
      .split("*")
      .map((piece) => piece.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
      .join(wildcard);
  const authority = translate(pattern.slice(0, authorityEnd), "[A-Za-z0-9.-]*");
  const rest = translate(pattern.slice(authorityEnd), "[A-Za-z0-9\\-._~:/?\\[\\]@!$&'()*+,;=%]*");
  return new RegExp(`^${authority}${rest}$`);
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
