import { escapeHtml } from "../html.js";
import { page } from "./layout.js";

export function errorPage(title: string, message: string, code?: string): string {
  const detail = code ? `<p><small>Error: <code>${escapeHtml(code)}</code></small></p>` : "";
  return page(title, `<h1>${escapeHtml(title)}</h1><p class="error">${escapeHtml(message)}</p>${detail}`);
}

/** A form another site posted (see `postedFromAnotherSite`). */
export function crossSiteFormPage(): string {
  return errorPage("This form came from another site", "Forms here are taken only from this site's own pages.");
}

/** A form whose CSRF token does not match this browser, session or request. */
export function formExpiredPage(): string {
  return errorPage("This form has expired", "Go back, reload the page and try again.");
}
