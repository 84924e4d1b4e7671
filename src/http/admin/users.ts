import type { FastifyInstance } from "fastify";
import { disconnect, listConnections } from "../../core/connections.js";
import { seconds } from "../../core/time.js";
import {
  type CheckedUserField,
  changePassword,
  checkEmail,
  checkPassword,
  createUser,
  MIN_PASSWORD_LENGTH,
  normalizeEmail,
  type UserFieldProblem,
} from "../../core/users.js";
import { DuplicateError, type UserRecord } from "../../store/types.js";
import type { AppDeps } from "../deps.js";
import { readUserFields } from "./body.js";
import { AdminError, notFound } from "./errors.js";
import { pageOf } from "./paging.js";

/** A user as the admin API shows it; never the password hash. */
function describe(user: UserRecord) {
  return { user_id: user.id, email: user.email, display_name: user.displayName, created_at: seconds(user.createdAt) };
}

function fieldError(p: UserFieldProblem): AdminError {
  if (p.field === "email") {
    return new AdminError(
      400,
      "invalid_request",
      p.problem === "missing" ? "email is required" : `email ${p.value} is not an email address`,
    );
  }
  return new AdminError(
    400,
    "invalid_request",
    p.problem === "missing" ? "password is required" : `password must be at least ${MIN_PASSWORD_LENGTH} characters`,
  );
}

function valid(checked: CheckedUserField): string {
  if (!checked.ok) throw fieldError(checked.problem);
  return checked.value;
}

/**
 * `/users`: what `keyward users` does, over HTTP, so that a platform can give its people keyward
 * accounts as they sign up, and take them away. Users are found by id, or by email with `?email=`,
 * or listed a page at a time in id order (`?limit=`, then `?after=` the page's `next_after`).
 */
export function registerAdminUsers(scope: FastifyInstance, deps: AppDeps, prefix: string): void {
  const { core } = deps;

  scope.post("/users", async (request, reply) => {
    const fields = readUserFields(request);
    const email = valid(checkEmail(fields.email));
    const password = valid(checkPassword(fields.password));
    try {
      const user = await createUser(core, { email, password, displayName: fields.displayName?.trim() || undefined });
      request.log.info({ user_id: user.id }, "user created through the admin API");
      return reply.status(201).header("location", `${prefix}/users/${user.id}`).send(describe(user));
    } catch (error) {
      if (error instanceof DuplicateError) {
        throw new AdminError(409, "user_exists", `A user with email ${normalizeEmail(email)} already exists`);
      }
      throw error;
    }
  });

  scope.get<{ Querystring: Record<string, string | string[] | undefined> }>("/users", async (request) => {
    const { email, ...paging } = request.query;
    if (email === undefined) {
      const { page, nextAfter } = await pageOf(paging, (after, limit) => core.store.listUsers(after, limit));
      return { users: page.map(describe), next_after: nextAfter };
    }
    if (typeof email !== "string" || Object.keys(paging).length > 0) {
      throw new AdminError(400, "invalid_request", "?email= finds one user by one email, without other parameters");
    }
    const user = await core.store.getUserByEmail(normalizeEmail(email));
    return { users: user ? [describe(user)] : [] };
  });

  scope.get<{ Params: { id: string } }>("/users/:id", async (request) => {
    const user = await core.store.getUserById(request.params.id);
    if (!user) throw notFound("user", request.params.id);
    return describe(user);
  });

  scope.delete<{ Params: { id: string } }>("/users/:id/sessions", async (request, reply) => {
    const { id } = request.params;
    if (!(await core.store.getUserById(id))) throw notFound("user", id);
    const ended = await core.store.deleteUserSessions(id);
    request.log.info({ user_id: id, sessions: ended }, "sign-in sessions ended through the admin API");
    return reply.status(204).send();
  });

  scope.put<{ Params: { id: string } }>("/users/:id/password", async (request, reply) => {
    const { id } = request.params;
    const password = valid(checkPassword(readUserFields(request).password));
    // Looked up first, so an unknown id costs no password hash.
    if (!(await core.store.getUserById(id)) || !(await changePassword(core, id, password))) {
      throw notFound("user", id);
    }
    request.log.info({ user_id: id }, "password replaced through the admin API; the user's sessions ended");
    return reply.status(204).send();
  });

  scope.get<{ Params: { id: string } }>("/users/:id/connections", async (request) => {
    const { id } = request.params;
    if (!(await core.store.getUserById(id))) throw notFound("user", id);
    const connections = await listConnections(core, id);
    return {
      connections: connections.map((c) => ({
        client_id: c.clientId,
        client_name: c.clientName,
        scope: c.scopes.join(" "),
        connected_at: seconds(c.since),
      })),
    };
  });

  scope.delete<{ Params: { id: string; clientId: string } }>(
    "/users/:id/connections/:clientId",
    async (request, reply) => {
      const { id, clientId } = request.params;
      if (!(await disconnect(core, id, clientId))) {
        throw new AdminError(404, "not_found", `User ${id} has no connection with client ${clientId}`);
      }
      request.log.info({ user_id: id, client_id: clientId }, "connection withdrawn through the admin API");
      return reply.status(204).send();
    },
  );

  scope.delete<{ Params: { id: string } }>("/users/:id", async (request, reply) => {
    const { id } = request.params;
    if (!(await core.store.deleteUser(id))) throw notFound("user", id);
    request.log.info({ user_id: id }, "user deleted through the admin API, with every token issued on their behalf");
    return reply.status(204).send();
  });
}
