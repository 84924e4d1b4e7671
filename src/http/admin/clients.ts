import type { FastifyInstance } from "fastify";
import {
  changeClient,
  checkClientChanges,
  checkNewClient,
  registerClient,
  rotateClientSecret,
} from "../../core/client-registry.js";
import { livePreviousSecret } from "../../core/clients.js";
import { seconds } from "../../core/time.js";
import type { ClientRecord } from "../../store/types.js";
import type { AppDeps } from "../deps.js";
import { readClientFields, readRotation } from "./body.js";
import { AdminError, metadataError, notFound } from "./errors.js";
import { pageOf } from "./paging.js";

/** An integration as the admin API shows it: RFC 7591's names; never the secret, which keyward does not have. */
function describe(client: ClientRecord, now: number) {
  const previous = livePreviousSecret(client, now);
  return {
    client_id: client.id,
    client_name: client.name,
    redirect_uris: client.redirectUris,
    scope: client.scopes.join(" "),
    client_id_issued_at: seconds(client.createdAt),
    updated_at: seconds(client.updatedAt),
    ...(previous && { previous_secret_expires_at: seconds(previous.expiresAt) }),
  };
}

/** `/clients`: what `keyward clients` does, over HTTP; listed a page at a time in id order, as users are. */
export function registerAdminClients(scope: FastifyInstance, deps: AppDeps, prefix: string): void {
  const { core } = deps;
  scope.post("/clients", async (request, reply) => {
    const checked = checkNewClient(readClientFields(request));
    if (!checked.ok) throw metadataError(checked.problem);
    const { client, secret } = await registerClient(core, checked.value);
    request.log.info({ client_id: client.id }, "client registered through the admin API");
    return reply
      .status(201)
      .header("location", `${prefix}/clients/${client.id}`)
      .send({ ...describe(client, core.now()), client_secret: secret, client_secret_expires_at: 0 });
  });

  scope.get<{ Querystring: Record<string, string | string[] | undefined> }>("/clients", async (request) => {
    const { page, nextAfter } = await pageOf(request.query, (after, limit) => core.store.listClients(after, limit));
    return { clients: page.map((client) => describe(client, core.now())), next_after: nextAfter };
  });

  scope.get<{ Params: { id: string } }>("/clients/:id", async (request) => {
    const client = await core.store.getClient(request.params.id);
    if (!client) throw notFound("client", request.params.id);
    return describe(client, core.now());
  });

  scope.patch<{ Params: { id: string } }>("/clients/:id", async (request) => {
    const { id } = request.params;
    const checked = checkClientChanges(readClientFields(request));
    if (!checked.ok) throw metadataError(checked.problem);
    if (Object.keys(checked.value).length === 0) {
      throw new AdminError(
        400,
        "invalid_client_metadata",
        "Nothing to change: give client_name, redirect_uris or scope",
      );
    }
    const client = await changeClient(core, id, checked.value);
    if (!client) throw notFound("client", id);
    request.log.info({ client_id: id, changed: Object.keys(checked.value) }, "client changed through the admin API");
    return describe(client, core.now());
  });

  scope.delete<{ Params: { id: string } }>("/clients/:id", async (request, reply) => {
    const { id } = request.params;
    if (!(await core.store.deleteClient(id))) throw notFound("client", id);
    request.log.info({ client_id: id }, "client deleted through the admin API, with every token issued to it");
    return reply.status(204).send();
  });

  scope.post<{ Params: { id: string } }>("/clients/:id/secret", async (request) => {
    const { id } = request.params;
    const rotated = await rotateClientSecret(core, id, readRotation(request));
    if (rotated === undefined) throw notFound("client", id);
    const kept =
      rotated.previousExpiresAt === undefined ? {} : { previous_secret_expires_at: seconds(rotated.previousExpiresAt) };
    request.log.info({ client_id: id, ...kept }, "client secret replaced through the admin API");
    return { client_id: id, client_secret: rotated.secret, client_secret_expires_at: 0, ...kept };
  });
}
