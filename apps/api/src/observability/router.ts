import { AuthenticationError } from "@llmq/core";
import type { RequestHandler } from "express";
import type { AppDeps } from "../deps";
import { secretMatcher } from "../http/secret-match";
import { DeclaredRouter } from "../http/route";
import { metricsRoutes } from "./metrics-route";
import { ADMIN_QUEUES_PATH, adminKeyOnly, bullBoardRouter } from "./admin-queues";
import { metricsReader } from "../cluster";
import { createApiMetrics } from "./api-metrics";
import { requestObserver } from "./request-log";

/**
 * `Authorization: Bearer <METRICS_TOKEN or the admin key>`, as Prometheus sends it; anyone else gets a
 * 401 in the Flexstack dialect. Checked against configuration only: a scrape never costs a database read.
 */
function metricsTokenOnly(tokens: readonly string[]): RequestHandler {
  const isMetricsToken = secretMatcher(tokens);
  return (req, res, next) => {
    res.locals.dialect = "flexstack";
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.get("authorization") ?? "")?.[1];
    if (bearer && isMetricsToken(bearer)) return next();
    res.set("WWW-Authenticate", 'Bearer realm="llmq metrics"');
    next(new AuthenticationError("GET /metrics needs 'Authorization: Bearer <METRICS_TOKEN>' (or the admin key)."));
  };
}

/**
 * Operators' side of the API, mounted first: times and logs every request by route pattern, serves
 * `GET /metrics` (Prometheus text, for METRICS_TOKEN or the admin key) and Bull Board at
 * /admin/queues for the admin key.
 */
export type ObservabilityDeps = Pick<AppDeps, "models" | "taskStats" | "engine" | "queues" | "upstreamStatus" | "redisStats" | "openStreams" | "logger" | "jobsRedis" | "keys"> & {
  env: Pick<AppDeps["env"], "SLOW_REQUEST_MS" | "METRICS_TOKEN" | "ADMIN_API_KEY">;
};

export function observabilityRouter(deps: ObservabilityDeps): DeclaredRouter {
  const metrics = createApiMetrics({ models: deps.models, taskStats: deps.taskStats, engineBus: deps.engine.bus, queues: deps.queues, upstreams: deps.upstreamStatus, redisStats: deps.redisStats, openStreams: deps.openStreams });
  const timing = requestObserver({ logger: deps.logger, slowRequestMs: deps.env.SLOW_REQUEST_MS, observe: metrics.observeRequest, observeOverhead: metrics.observeOverhead });

  const router = new DeclaredRouter("");
  router.router.use(timing);
  const metricsTokens = [deps.env.METRICS_TOKEN, deps.env.ADMIN_API_KEY].filter((token): token is string => token !== undefined);
  const readMetrics = metricsReader(metrics.registry);
  router.handle(metricsRoutes.metrics, metricsTokenOnly(metricsTokens), async (_input, _req, res) => {
    res.set("Content-Type", metrics.registry.contentType).send(await readMetrics());
  });
  router.router.use(
    ADMIN_QUEUES_PATH,
    (_req, res, next) => {
      res.locals.dialect = "flexstack";
      next();
    },
    adminKeyOnly(deps.env.ADMIN_API_KEY),
    bullBoardRouter({ connection: deps.jobsRedis, prefix: deps.keys.bull, models: deps.models }),
  );
  return router;
}
