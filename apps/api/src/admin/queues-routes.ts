import { ModelNotFoundError, type ModelConfig } from "@llmq/core";
import { type Request, type Response, Router } from "express";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { lastHour, windowStart } from "./queue-stats";

/** `/v1/admin/queues`: each model's queue counts, the last hour's throughput and latency, pause/resume. */
export function adminQueuesRouter(deps: AppDeps): Router {
  const router = Router();
  const modelOf = (id: string): ModelConfig => {
    const model = deps.models.byId.get(id);
    if (!model) throw new ModelNotFoundError(id, [...deps.models.byId.keys()], "model");
    return model;
  };

  router.get("/queues", async (req, res) => {
    const start = windowStart(new Date());
    const [stats, details] = await Promise.all([
      deps.taskStats.finishedSince(start),
      Promise.all(deps.models.models.map((model) => deps.queues.details(model.queueName))),
    ]);
    const queues = deps.models.models.map((model, index) => ({
      model: model.id,
      queue_name: model.queueName,
      paused: details[index]!.paused,
      counts: details[index]!.counts,
      last_hour: lastHour(model.id, stats, start),
    }));
    res.json(dataEnvelope({ queues }, req, res.locals.startedAt!));
  });

  const setPaused = (paused: boolean) => async (req: Request<{ model: string }>, res: Response) => {
    const model = modelOf(req.params.model);
    await (paused ? deps.queues.pause(model.queueName) : deps.queues.resume(model.queueName));
    deps.logger.info({ model: model.id, paused }, paused ? "queue paused" : "queue resumed");
    res.json(dataEnvelope({ model: model.id, paused }, req, res.locals.startedAt!));
  };
  router.post("/queues/:model/pause", setPaused(true));
  router.post("/queues/:model/resume", setPaused(false));

  return router;
}
