import express, { type Express, type RequestHandler } from "express";
import swaggerUi from "swagger-ui-express";
import { adminRouter } from "./admin/routes";
import { authRouter } from "./auth/routes";
import type { AppDeps } from "./deps";
import { batchFiles } from "./batches/batch-files";
import { batchesRouter } from "./batches/routes";
import { filesRouter } from "./files/routes";
import { flexstackRouter } from "./flexstack/routes";
import { nativeBatchesRouter } from "./native-batches/routes";
import { openAIRouter } from "./openai/routes";
import { responsesRouter } from "./responses/routes";
import { webhooksRouter } from "./webhooks/routes";
import { healthRouter } from "./health/routes";
import { usersRouter } from "./users/routes";
import { recordRouteLabels } from "./observability/route-label";
import { observabilityRouter } from "./observability/router";
import { authenticate } from "./http/auth";
import { errorHandler } from "./http/error-handler";
import { corsPolicy, rejectNulInPath, securityHeaders } from "./http/security";
import type { Dialect } from "./http/principal";
import { buildOpenApiDocument } from "./openapi/document";
import { API_ROUTES } from "./openapi/routes";
import { type ResponseObserver, checkResponses } from "./http/response-check";
import { DeclaredRouter, type RouteDeclaration, assertServesDeclaredRoutes } from "./http/route";
import { mountPaths } from "./http/path-aliases";
import { encodedJsonBody, jsonBody } from "./http/body-parsers";
import { openApiRoutes } from "./openapi/openapi-route";
import { serveDashboard } from "./dashboard/serve";
import { NotFoundError } from "@llmq/core";

const dialect =
  (name: Dialect): RequestHandler =>
  (_req, res, next) => {
    res.locals.dialect = name;
    next();
  };

export interface AppOptions {
  /** Hold each answer of a declared route against its declaration and report it here (the test harness does). */
  onResponse?: ResponseObserver;
}

/** The HTTP app over its dependencies; tests run it in-process or on a socket. */
export function createApp(deps: AppDeps, options: AppOptions = {}): Express {
  const app = express();
  // The test suite's check of every answer against its route's declaration (never in production).
  if (options.onResponse) app.use(checkResponses(API_ROUTES, options.onResponse));
  // Every route bound from a declaration; checked against API_ROUTES once all are mounted.
  const bound: RouteDeclaration[] = [];
  const declared = (router: DeclaredRouter) => {
    bound.push(...router.bound);
    return router.router;
  };
  app.disable("x-powered-by");
  // JSON answers are computed per request and rarely repeat: hashing each body for an ETag is waste.
  app.set("etag", false);
  recordRouteLabels(app);
  // Only the configured proxies may name the client (X-Forwarded-For); by default none can.
  app.set("trust proxy", deps.env.TRUST_PROXY);
  // First, so every answer carries the headers and a preflight is answered before auth asks for a key.
  app.use(securityHeaders(), corsPolicy(deps.env.CORS_ORIGINS), rejectNulInPath);
  // Request id, arrival time, duration by route and the access log: one middleware (observability/request-log.ts).
  app.use(declared(observabilityRouter(deps)));

  const document = buildOpenApiDocument();
  app.use(
    declared(
      new DeclaredRouter("").handle(openApiRoutes.document, (_input, _req, res) => {
        res.json(document);
      }),
    ),
  );
  app.use("/docs", swaggerUi.serve, swaggerUi.setup(document));
  app.use(declared(healthRouter(deps)));
  app.use("/dashboard", serveDashboard({ dir: deps.env.DASHBOARD_DIR }));

  const json = jsonBody({ limit: deps.env.BODY_LIMIT, variable: "BODY_LIMIT" });
  const auth = authenticate({ apiKeys: deps.apiKeys, apiKeyCache: deps.apiKeyCache, auth: deps.auth, adminApiKey: deps.env.ADMIN_API_KEY, limitDefaults: deps.limitDefaults, logger: deps.logger });
  // Authenticate before reading the body: an unknown caller gets its 401, not a 400 or 413 about a body we parsed.
  // Each dialect ends with its own 404, so an unknown /v1/ai route is answered in the Flexstack dialect;
  // a path outside both APIs gets the last one, in plain JSON (http/error-handler.ts).
  const routeNotFound: RequestHandler = (req, _res, next) => next(new NotFoundError(`No route ${req.method} ${req.originalUrl.split("?")[0]}.`, { code: "route_not_found" }));
  // Native batches carry up to 50,000 requests in one body: their own limit, mounted before /v1/ai's, and
  // read as sent (still compressed), to be decoded and parsed off the event loop. Both limits count decompressed bytes.
  const batchJson = encodedJsonBody({ limit: deps.env.BATCH_BODY_LIMIT, variable: "BATCH_BODY_LIMIT" });
  // The task API also answers without `/v1` (`/ai/...`, Flexstack's own paths): the same routers, mounted at both.
  app.use(mountPaths("/v1/ai/batches"), dialect("flexstack"), auth, batchJson, declared(nativeBatchesRouter(deps)), routeNotFound);
  app.use(mountPaths("/v1/ai/webhooks"), dialect("flexstack"), auth, json, declared(webhooksRouter(deps)), routeNotFound);
  app.use(mountPaths("/v1/ai"), dialect("flexstack"), auth, json, declared(flexstackRouter(deps)), routeNotFound);
  app.use("/v1/admin", dialect("flexstack"), auth, json, declared(adminRouter(deps)), routeNotFound);
  // Sign-in carries its credential in the body: no bearer.
  app.use("/v1/auth", dialect("flexstack"), json, declared(authRouter(deps)), routeNotFound);
  app.use("/v1/users", dialect("flexstack"), auth, json, declared(usersRouter(deps)), routeNotFound);
  // Files read their multipart body as a stream (no json parser), so uploads may pass BODY_LIMIT.
  app.use("/v1/files", dialect("openai"), auth, declared(filesRouter(deps, { sources: [batchFiles(deps)] })), routeNotFound);
  app.use("/v1/batches", dialect("openai"), auth, json, declared(batchesRouter(deps)), routeNotFound);
  app.use("/v1/responses", dialect("openai"), auth, json, declared(responsesRouter(deps)), routeNotFound);
  app.use("/v1", dialect("openai"), auth, json, declared(openAIRouter(deps)), routeNotFound);
  app.use(routeNotFound);
  app.use(errorHandler(deps.logger));
  assertServesDeclaredRoutes(bound, API_ROUTES);
  return app;
}
