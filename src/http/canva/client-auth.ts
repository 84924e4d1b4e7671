import type { FastifyRequest } from "fastify";
import { authenticateClient, type ClientCredentials } from "../../core/clients.js";
import type { CoreContext } from "../../core/context.js";
import type { ClientRecord } from "../../store/types.js";
import { decodeFormComponent } from "../form-body.js";
import { CanvaError, fromCoreError } from "./errors.js";
import type { CanvaParams } from "./params.js";

/** A request that authenticates its client two different ways: Canva's code, RFC 6749 §5.2's `invalid_request`. */
const twoMethods = (message: string) => new CanvaError(400, "unauthorized_client", message, "invalid_request");

const BASIC_CHALLENGE = { "www-authenticate": 'Basic realm="keyward", charset="UTF-8"' };

/** RFC 6749 §2.3.1: Basic credentials are the form-encoded id and secret, base64-encoded. */
function parseBasic(header: string): ClientCredentials | undefined {
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  const clientId = decodeFormComponent(decoded.slice(0, colon));
  const clientSecret = decodeFormComponent(decoded.slice(colon + 1));
  if (!clientId || !clientSecret) return undefined;
  return { clientId, clientSecret };
}

/**
 * Canva's rule: a client authenticates with HTTP Basic or with body parameters. The same id and
 * secret sent both ways count as Basic alone: Canva's own starter kit disconnects a user that way.
 * Failures are 401 `invalid_client`, with a Basic challenge when Basic was tried.
 */
export async function authenticateCanvaClient(
  core: CoreContext,
  request: FastifyRequest,
  params: CanvaParams,
): Promise<ClientRecord> {
  const header = request.headers.authorization;
  const usesBasic = header !== undefined && /^basic /i.test(header);
  let credentials: ClientCredentials;
  if (usesBasic) {
    const parsed = parseBasic(header);
    if (!parsed) {
      throw new CanvaError(
        401,
        "invalid_client",
        "Malformed basic authorization header",
        "invalid_client",
        BASIC_CHALLENGE,
      );
    }
    const bodyClientId = params.optional("client_id");
    if (bodyClientId !== undefined && bodyClientId !== parsed.clientId) {
      throw twoMethods("client_id body param does not match the basic auth client");
    }
    // Both secrets come from this request, so comparing them tells the caller nothing it did not send;
    // the Basic one is then checked against the stored hash as ever.
    const bodySecret = params.optional("client_secret");
    if (bodySecret !== undefined && bodySecret !== parsed.clientSecret) {
      throw twoMethods("The client must either be authenticated using basic auth or body parameters.");
    }
    credentials = parsed;
  } else {
    const clientId = params.optional("client_id");
    const clientSecret = params.optional("client_secret");
    if (clientId === undefined || clientSecret === undefined) {
      throw new CanvaError(
        401,
        "invalid_client",
        "Client authentication is required",
        "invalid_client",
        BASIC_CHALLENGE,
      );
    }
    credentials = { clientId, clientSecret };
  }
  const result = await authenticateClient(core, credentials);
  if (!result.ok) throw fromCoreError(result.error, usesBasic ? BASIC_CHALLENGE : {});
  return result.value;
}
