import { escapeHtml } from "../html.js";
import { page } from "./layout.js";

export function errorPage(title: string, message: string, code?: string): string {
  const detail = code ? `<p><small>Error: <code>${escapeHtml(code)}</code></small></p>` : "";
  return page(title, `<h1>${escapeHtml(title)}</h1><p class="error">${escapeHtml(message)}</p>${detail}`);
}
