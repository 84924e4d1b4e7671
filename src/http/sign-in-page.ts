import type { FastifyInstance } from "fastify";
import {
  csrfBinding,
  csrfToken,
  csrfValid,
  postedFromAnotherSite,
  sessionPurpose,
  signedInUser,
  signIn,
  signOut,
} from "./browser.js";
import type { AppDeps } from "./deps.js";
import { postedForm } from "./form-body.js";
import { sendHtml } from "./html.js";
import { crossSiteFormPage, formExpiredPage } from "./pages/error.js";
import { signInPage } from "./pages/sign-in.js";

/** A path of printable ASCII: browsers drop tabs and newlines from URLs, and a header carries no control characters. */
const PRINTABLE_PATH = /^\/[\x21-\x7e]*$/;
const THIS_SITE = "http://this.site.invalid";

/**
 * Where a sign-in may send the browser back to: a path on this site, else the home page. A repeated
 * `return_to` (an array) or anything that resolves to another origin (`//host`, `/\host`) is refused.
 */
function safeReturnPath(value: unknown): string {
  if (typeof value !== "string" || !PRINTABLE_PATH.test(value)) return "/";
  if (value.startsWith("//") || value.startsWith("/\\") || new URL(value, THIS_SITE).origin !== THIS_SITE) return "/";
  return value;
}

/** keyward's own sign-in page, for flows (such as Cal.com's) that start from a signed-in browser. */
export function registerSignInPage(app: FastifyInstance, deps: AppDeps): void {
  app.get("/login", async (request, reply) => {
    const returnTo = safeReturnPath((request.query as Record<string, unknown>).return_to);
    const binding = csrfBinding(deps, request, reply);
    const action = `/login?return_to=${encodeURIComponent(returnTo)}`;
    return sendHtml(reply, 200, signInPage({ action, csrfToken: csrfToken(deps, binding, "sign_in") }));
  });

  app.post("/login", async (request, reply) => {
    if (postedFromAnotherSite(request)) return sendHtml(reply, 403, crossSiteFormPage());
    const returnTo = safeReturnPath((request.query as Record<string, unknown>).return_to);
    const form = postedForm(request.body);
    if (!csrfValid(deps, request, form, "sign_in")) {
      return sendHtml(reply, 403, formExpiredPage());
    }
    const outcome = await signIn(deps, request, reply, form);
    if (!outcome.ok) {
      const binding = csrfBinding(deps, request, reply);
      const action = `/login?return_to=${encodeURIComponent(returnTo)}`;
      return sendHtml(
        reply,
        outcome.status,
        signInPage({
          action,
          csrfToken: csrfToken(deps, binding, "sign_in"),
          error: outcome.message,
          email: outcome.email,
        }),
      );
    }
    return reply.status(303).header("location", returnTo).send();
  });

  app.post("/logout", async (request, reply) => {
    if (postedFromAnotherSite(request)) return sendHtml(reply, 403, crossSiteFormPage());
    const form = postedForm(request.body);
    const signedIn = await signedInUser(deps, request);
    // Signed out already, there is nothing a forged request could end.
    if (signedIn && !csrfValid(deps, request, form, sessionPurpose("sign_out", signedIn))) {
      return sendHtml(reply, 403, formExpiredPage());
    }
    await signOut(deps, request, reply);
    return reply.status(303).header("location", "/").send();
  });
}
