import { describeScope } from "../../core/scopes.js";
import { escapeHtml } from "../html.js";
import { page } from "./layout.js";

export interface ConsentView {
  clientName: string;
  userEmail: string;
  scopes: readonly string[];
  csrfToken: string;
}

export function consentPage(view: ConsentView): string {
  const items = view.scopes
    .map((s) => `<li>${escapeHtml(describeScope(s))} <small>(<code>${escapeHtml(s)}</code>)</small></li>`)
    .join("");
  return page(
    "Authorize access",
    `<h1><strong>${escapeHtml(view.clientName)}</strong> wants to access your account</h1>
<p>Signed in as ${escapeHtml(view.userEmail)}.</p>
<p>It will be able to:</p><ul>${items}</ul>
<form method="post">
<input type="hidden" name="csrf_token" value="${escapeHtml(view.csrfToken)}">
<input type="hidden" name="action" value="consent">
<button class="primary" type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}
