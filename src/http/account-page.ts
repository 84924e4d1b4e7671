import type { FastifyInstance } from "fastify";
import { disconnect, listConnections } from "../core/connections.js";
import { csrfBinding, csrfToken, csrfValid, postedFromAnotherSite, sessionPurpose, signedInUser } from "./browser.js";
import type { AppDeps } from "./deps.js";
import { firstValue, postedForm } from "./form-body.js";
import { sendHtml } from "./html.js";
import { accountPage } from "./pages/account.js";
import { crossSiteFormPage, errorPage, formExpiredPage } from "./pages/error.js";
import { page } from "./pages/layout.js";

/** The home page: signed in, the user's connected integrations, each of which they can disconnect. */
export function registerAccountPage(app: FastifyInstance, deps: AppDeps): void {
  app.get("/", async (request, reply) => {
    const signedIn = await signedInUser(deps, request);
    if (!signedIn) {
      return sendHtml(reply, 200, page("keyward", `<h1>keyward</h1><p><a href="/login">Sign in</a></p>`));
    }
    const binding = csrfBinding(deps, request, reply);
    const view = {
      email: signedIn.user.email,
      connections: await listConnections(deps.core, signedIn.user.id),
      disconnectCsrfToken: csrfToken(deps, binding, sessionPurpose("disconnect", signedIn)),
      signOutCsrfToken: csrfToken(deps, binding, sessionPurpose("sign_out", signedIn)),
    };
    return sendHtml(reply, 200, accountPage(view));
  });

  app.post("/connections/disconnect", async (request, reply) => {
    if (postedFromAnotherSite(request)) return sendHtml(reply, 403, crossSiteFormPage());
    const form = postedForm(request.body);
    const signedIn = await signedInUser(deps, request);
    if (!signedIn) return reply.status(303).header("location", "/login?return_to=%2F").send();
    if (!csrfValid(deps, request, form, sessionPurpose("disconnect", signedIn))) {
      return sendHtml(reply, 403, formExpiredPage());
    }
    const clientId = firstValue(form, "client_id");
    if (!clientId || form.get("client_id")?.length !== 1) {
      return sendHtml(reply, 400, errorPage("Nothing to disconnect", "The form named no integration."));
    }
    await disconnect(deps.core, signedIn.user.id, clientId);
    return reply.status(303).header("location", "/").send();
  });
}
