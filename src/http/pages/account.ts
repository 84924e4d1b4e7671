import type { Connection } from "../../core/connections.js";
import { describeScope } from "../../core/scopes.js";
import { escapeHtml } from "../html.js";
import { page } from "./layout.js";

export interface AccountView {
  email: string;
  connections: readonly Connection[];
  disconnectCsrfToken: string;
  signOutCsrfToken: string;
}

function connectionItem(connection: Connection, csrfToken: string): string {
  const scopes =
    connection.scopes.map((s) => escapeHtml(describeScope(s))).join("; ") ||
    "Nothing at present; disconnect it to revoke the tokens it holds";
  const since = new Date(connection.since).toISOString().slice(0, 10);
  return `<li><strong>${escapeHtml(connection.clientName)}</strong>, since ${since}<br><small>${scopes}</small>
<form method="post" action="/connections/disconnect"><input type="hidden" name="csrf_token" value="${escapeHtml(csrfToken)}">
<input type="hidden" name="client_id" value="${escapeHtml(connection.clientId)}">
<button type="submit">Disconnect</button></form></li>`;
}

/** The signed-in home page: who is signed in, and the integrations that may act for them. */
export function accountPage(view: AccountView): string {
  const list =
    view.connections.length === 0
      ? "<p>No integration can act on your behalf.</p>"
      : `<ul>${view.connections.map((c) => connectionItem(c, view.disconnectCsrfToken)).join("")}</ul>`;
  return page(
    "keyward",
    `<h1>keyward</h1><p>Signed in as ${escapeHtml(view.email)}.</p>
<h2>Connected integrations</h2>${list}
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="${escapeHtml(view.signOutCsrfToken)}">
<button type="submit">Sign out</button></form>`,
  );
}
