import { escapeHtml } from "../html.js";
import { page } from "./layout.js";

export interface SignInView {
  /** Form target; the current URL when empty. */
  action: string;
  csrfToken: string;
  email?: string;
  error?: string;
  clientName?: string;
}

export function signInPage(view: SignInView): string {
  const intro = view.clientName
    ? `<p>Sign in to continue to <strong>${escapeHtml(view.clientName)}</strong>.</p>`
    : "<p>Sign in to your account.</p>";
  const error = view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : "";
  return page(
    "Sign in",
    `<h1>Sign in</h1>${intro}${error}
<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(view.csrfToken)}">
<input type="hidden" name="action" value="sign_in">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(view.email ?? "")}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button class="primary" type="submit">Sign in</button>
</form>`,
  );
}
