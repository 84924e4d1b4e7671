/**
 * The scopes a client may be registered for, each with the words the consent page shows.
 * Scopes are listed explicitly: a write scope never implies the matching read scope.
 */
export const SCOPE_CATALOG: Readonly<Record<string, string>> = {
  "asset:read": "View your uploaded images, videos and audio",
  "asset:write": "Upload, change and delete your images, videos and audio",
  "brandtemplate:content:read": "Read the content of your brand templates",
  "brandtemplate:content:write": "Change the content of your brand templates",
  "brandtemplate:meta:read": "View the names and details of your brand templates",
  "collaboration:event": "Receive notifications about comments, shares and other activity",
  "comment:read": "Read comments on your designs",
  "comment:write": "Post comments and replies on your designs",
  "design:content:read": "Read the contents of your designs",
  "design:content:write": "Create designs and change their contents",
  "design:meta:read": "View the titles, thumbnails and details of your designs",
  "design:permission:read": "See who has access to your designs",
  "design:permission:write": "Change who has access to your designs",
  "folder:read": "View your folders and what is in them",
  "folder:write": "Create, rename, move and delete your folders",
  "folder:permission:write": "Change who has access to your folders",
  "profile:read": "View your display name",
  openid: "Confirm your identity",
  profile: "View your basic profile",
  email: "View your email address",
};

export function isKnownScope(scope: string): boolean {
  return Object.hasOwn(SCOPE_CATALOG, scope);
}

export function describeScope(scope: string): string {
  return SCOPE_CATALOG[scope] ?? scope;
}

/** Splits a space-separated scope string into unique scopes, keeping their first order. */
export function parseScope(value: string | undefined): string[] {
  if (!value) return [];
  return [...new Set(value.split(" ").filter((s) => s.length > 0))];
}

export function isSubset(requested: readonly string[], allowed: readonly string[]): boolean {
  const pool = new Set(allowed);
  return requested.every((s) => pool.has(s));
}

/** Scopes in `requested` not present in `allowed`, for error messages. */
export function missingScopes(requested: readonly string[], allowed: readonly string[]): string[] {
  const pool = new Set(allowed);
  return requested.filter((s) => !pool.has(s));
}

/** A code or refresh token whose every scope the client has lost since: the user must authorize again. */
export const NO_SCOPE_LEFT = "None of the granted scopes is still allowed for this client";

/**
 * The scopes of a grant that its client still holds: an operator may have taken some away since
 * the user consented (`keyward clients update`). Scope lists are short, so `includes` beats a Set.
 */
export function stillAllowed(granted: readonly string[], clientScopes: readonly string[]): readonly string[] {
  return granted.every((s) => clientScopes.includes(s)) ? granted : granted.filter((s) => clientScopes.includes(s));
}
