import { pingDatabase } from "@llmq/db";
import { pingRedis } from "@llmq/queue";
import { Router } from "express";
import type { AppDeps } from "../deps";

/**
 * `/healthz`: the process is up. `/readyz`: Postgres and Redis answer, so requests can be served; Redis on
 * both the commands connection and the queue producers' (after an outage each reconnects on its own, and
 * a submission needs both).
 */
export function healthRouter(deps: AppDeps): Router {
  const router = Router();
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    const [postgres, commands, producers] = await Promise.all([pingDatabase(deps.db), pingRedis(deps.redis), deps.queues.ready()]);
    const redis = commands && producers;
    const ready = postgres && redis;
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "unavailable", checks: { postgres: postgres ? "ok" : "down", redis: redis ? "ok" : "down" } });
  });
  return router;
}
