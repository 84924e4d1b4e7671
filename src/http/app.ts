import { randomUUID } from "node:crypto";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import { registerAccountPage } from "./account-page.js";
import { ADMIN_PREFIX, answerAdminNotFound, registerAdminApi } from "./admin/admin-api.js";
import { adminErrorHandler } from "./admin/errors.js";
import { registerCalOAuthFlow } from "./cal/oauth-flow.js";
import { registerAuthorizePage } from "./canva/authorize-page.js";
import { registerCanvaConnectKeys } from "./canva/connect-keys.js";
import { canvaNotFoundHandler } from "./canva/error-handler.js";
import { registerCanvaOAuthApi } from "./canva/oauth-api.js";
import { registerCanvaUsersApi } from "./canva/users-api.js";
import { answerBareRefusals, answerClientError } from "./client-errors.js";
import type { AppDeps } from "./deps.js";
import { adminOnly, answerUnroutable, type FaceOf, publicFaces, storageFailureAnswer } from "./faces.js";
import { parseForm } from "./form-body.js";
import { sendHtml } from "./html.js";
import { errorPage } from "./pages/error.js";
import { ReplyBatch } from "./reply-batch.js";
import { classifyFailure, markUnavailable } from "./request-failure.js";
import { lazyRequestLogger } from "./request-logger.js";
import { registerSignInPage } from "./sign-in-page.js";
import { registerWellKnown } from "./well-known.js";

const MAX_HEADER_BYTES = 16 * 1024;
/** Node's own default for the headers, kept unless the request timeout is shorter. */
const HEADERS_TIMEOUT_MS = 60_000;

/** Request bodies are small forms or JSON objects; anything bigger is refused unread. */
const BODY_LIMIT_BYTES = 16 * 1024;

/** A hop count becomes "trust the first n hops", which is what Fastify's function form expresses. */
function trustProxyOption(value: AppDeps["config"]["trustProxy"]) {
  return typeof value === "number" ? (_address: string, hop: number) => hop < value : value;
}

/**
 * A reply Node refused to write (a header value it rejects, say) throws from inside the onSend
 * hook's promise, where nothing would catch it and the process would end. It is logged and the
 * client gets a bare 500 instead, or a closed connection once the headers have gone out.
 */
function answerUnwritable(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
  request.log.error({ err: error }, "reply could not be written");
  const response = reply.raw;
  try {
    if (response.headersSent) throw error;
    response.writeHead(500, { "content-length": "0", "x-request-id": request.id });
    response.end();
  } catch {
    response.destroy();
  }
}

type SendDone = (error: null, payload: unknown) => void;

/**
 * What every listener shares: limits, the form parser, and replies held back until what their
 * request wrote is durable. `faceOf` tells which shape an error answered outside a route takes.
 */
function baseApp(deps: AppDeps, faceOf: FaceOf, options: FastifyServerOptions): FastifyInstance {
  // Node refuses a headers timeout longer than the request timeout.
  const headersTimeout = Math.min(HEADERS_TIMEOUT_MS, deps.config.requestTimeoutMs);
  const app = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    childLoggerFactory: lazyRequestLogger,
    trustProxy: trustProxyOption(deps.config.trustProxy),
    clientErrorHandler: answerClientError(faceOf),
    // A request must have arrived whole within KEYWARD_REQUEST_TIMEOUT (Fastify's default is no
    // limit): otherwise a client that stops sending its body holds the connection, and a shutdown
    // waiting for it, for as long as it likes. Node then answers 408 through answerClientError.
    requestTimeout: deps.config.requestTimeoutMs,
    // A request that arrives on an open connection while the server closes is answered, in its
    // dialect's shape and with `Connection: close`, rather than with Fastify's own 503.
    return503OnClosing: false,
    http: {
      // Explicit rather than Node's default: larger headers get a 431 from answerClientError.
      maxHeaderSize: MAX_HEADER_BYTES,
      // Node's own answer to a request without one is bare; answerBareRefusals gives it a shape.
      requireHostHeader: false,
      headersTimeout,
      // How often Node checks both timeouts.
      connectionsCheckingInterval: headersTimeout / 4,
    },
    // A parameter (a client id in a Cal.com path) is as long as the request line lets it be; an
    // id no client has is then refused as unknown, in the dialect's words, like any other.
    routerOptions: { maxParamLength: MAX_HEADER_BYTES },
    frameworkErrors: answerUnroutable(faceOf),
    ...options,
  });

  // A client that half-closes its connection once its request is sent still gets the answer; by
  // default Node closes such a connection unanswered, though what the request wrote stands (a
  // refresh's rotation, say, whose retry would then look like reuse).
  (app.server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  answerBareRefusals(app.server, faceOf);

  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) => {
    try {
      done(null, parseForm(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Node's close only ends the connections idle at that moment; one whose reply leaves later would
  // be kept alive, and hold the close open, until its keep-alive timeout.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  const replies = new ReplyBatch();
  const sendInTurn = (request: FastifyRequest, reply: FastifyReply, done: SendDone, payload: unknown) =>
    replies.add(() => {
      // Lets Fastify write the reply. Nothing may throw out of here (Node refusing to write it,
      // say), or the replies after this one in the turn would be lost.
      try {
        if (closing) reply.header("connection", "close");
        deps.metrics.observe(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
        done(null, payload);
      } catch (error) {
        answerUnwritable(request, reply, error);
      }
    });
  app.addHook("onSend", (request, reply, payload, done) => {
    reply.header("x-request-id", request.id);
    // Nothing is acknowledged until what the request wrote is on stable storage. A failure is
    // answered here rather than passed to Fastify, whose next error handler would be the parent
    // scope's (HTML for an API) when the reply was already an error.
    deps.core.store.flush().then(
      () => sendInTurn(request, reply, done, payload),
      (error: unknown) =>
        sendInTurn(request, reply, done, storageFailureAnswer(faceOf(request.url), request, reply, error)),
    );
  });
  return app;
}

/**
 * The public listener: the pages and both dialects, and the admin API too when KEYWARD_ADMIN_TOKEN
 * is set without KEYWARD_ADMIN_PORT.
 */
export function buildApp(deps: AppDeps, options: FastifyServerOptions = {}): FastifyInstance {
  const { adminToken, adminListener } = deps.config;
  // The admin API is served here only when it has no listener of its own.
  const adminHere = adminListener === undefined ? adminToken : undefined;
  const app = baseApp(deps, publicFaces(adminHere !== undefined), options);

  // Pages and everything outside a dialect's scope answer errors as an HTML page.
  app.setErrorHandler((error, request, reply) => {
    const failure = classifyFailure(error);
    switch (failure.kind) {
      case "unavailable":
        markUnavailable(request, reply, error);
        return sendHtml(reply, 503, errorPage("Temporarily unavailable", "Try again in a moment."));
      case "internal":
        request.log.error({ err: error }, "unexpected error");
        return sendHtml(reply, 500, errorPage("Something went wrong", "The request could not be completed."));
      case "client-error":
        return sendHtml(reply, failure.status, errorPage("Invalid request", failure.message));
      case "body-too-large":
        return sendHtml(reply, 413, errorPage("Invalid request", "The form is too large."));
      // A page takes forms only: JSON, well-formed or not, is the wrong media type.
      case "wrong-media-type":
      case "malformed-json":
        return sendHtml(reply, 415, errorPage("Invalid request", "The form was not sent as a form."));
      default:
        return sendHtml(reply, 400, errorPage("Invalid request", "The form could not be read."));
    }
  });

  app.setNotFoundHandler((_request, reply) =>
    sendHtml(reply, 404, errorPage("Not found", "There is no page at this address.")),
  );

  registerWellKnown(app, deps);
  registerSignInPage(app, deps);
  registerAccountPage(app, deps);
  registerAuthorizePage(app, deps);

  for (const prefix of ["/rest", "/auth"]) {
    app.register(
      async (scope) => {
        registerCanvaOAuthApi(scope, deps);
        if (prefix === "/rest") {
          registerCanvaUsersApi(scope, deps);
          registerCanvaConnectKeys(scope, deps);
        }
        scope.setNotFoundHandler(canvaNotFoundHandler);
      },
      { prefix },
    );
  }
  for (const prefix of ["/v2", "/api/v2"]) {
    app.register(async (scope) => registerCalOAuthFlow(scope, deps), { prefix });
  }
  if (adminHere !== undefined) {
    app.register(async (scope) => registerAdminApi(scope, deps, adminHere), { prefix: ADMIN_PREFIX });
  }
  return app;
}

/** The admin listener (KEYWARD_ADMIN_PORT): the admin API alone, every answer in its JSON shape. */
export function buildAdminApp(deps: AppDeps, adminToken: string, options: FastifyServerOptions = {}): FastifyInstance {
  const app = baseApp(deps, adminOnly, options);
  app.setErrorHandler(adminErrorHandler);
  app.setNotFoundHandler(answerAdminNotFound);
  app.register(async (scope) => registerAdminApi(scope, deps, adminToken), { prefix: ADMIN_PREFIX });
  return app;
}
