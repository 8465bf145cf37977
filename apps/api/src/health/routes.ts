import { livenessSchema, readinessSchema } from "@llmq/contract";
import { pingDatabase } from "@llmq/db";
import { pingRedis } from "@llmq/queue";
import type { AppDeps } from "../deps";
import { DeclaredRouter, route } from "../http/route";
import { json } from "../openapi/responses";

export const healthRoutes = {
  liveness: route({ method: "get", path: "/healthz", summary: "Liveness", security: [], responses: { 200: json("Process up.", livenessSchema) } }),
  readiness: route({
    method: "get",
    path: "/readyz",
    summary: "Readiness: Postgres and Redis reachable",
    security: [],
    responses: { 200: json("Ready.", readinessSchema), 503: json("A dependency is down.", readinessSchema) },
  }),
};

/**
 * `/healthz`: the process is up. `/readyz`: Postgres and Redis answer, so requests can be served; Redis on
 * both the commands connection and the queue producers' (after an outage each reconnects on its own, and
 * a submission needs both).
 */
export function healthRouter(deps: Pick<AppDeps, "db" | "redis" | "queues">): DeclaredRouter {
  const router = new DeclaredRouter("");
  router.handle(healthRoutes.liveness, (_input, _req, res) => {
    res.json({ status: "ok" });
  });
  router.handle(healthRoutes.readiness, async (_input, _req, res) => {
    const [postgres, commands, producers] = await Promise.all([pingDatabase(deps.db), pingRedis(deps.redis), deps.queues.ready()]);
    const redis = commands && producers;
    const ready = postgres && redis;
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "unavailable", checks: { postgres: postgres ? "ok" : "down", redis: redis ? "ok" : "down" } });
  });
  return router;
}
