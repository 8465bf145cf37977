import { ModelNotFoundError, type ModelConfig } from "@llmq/core";
import { adminQueuesSchema, queuePausedSchema } from "@llmq/contract";
import type { Request, Response } from "express";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { type DeclaredRouter, route } from "../http/route";
import { adminErrors, json } from "../openapi/responses";
import { lastHour, windowStart } from "./queue-stats";

const modelParams = z.object({ model: z.string().meta({ description: "A model id of `GET /v1/ai/models`." }) });

/** `/v1/admin/queues`. */
export const adminQueueRoutes = {
  list: route({
    method: "get",
    path: "/v1/admin/queues",
    summary: "Every model's queue: job counts, paused, throughput and latency over the last hour (admin)",
    description:
      "Latency is `completed_at - created_at` of the COMPLETED tasks finished in the window (p50/p95 with `percentile_cont`); `failed` counts FAILED tasks. `per_minute` holds 60 buckets, oldest first.",
    responses: { 200: json("Queues.", adminQueuesSchema), ...adminErrors },
  }),
  pause: route({
    method: "post",
    path: "/v1/admin/queues/{model}/pause",
    summary: "Pause a model's queue (admin): workers take no new job; its jobs stay waiting",
    request: { params: modelParams },
    responses: { 200: json("Paused.", queuePausedSchema), ...adminErrors },
  }),
  resume: route({
    method: "post",
    path: "/v1/admin/queues/{model}/resume",
    summary: "Resume a paused queue (admin)",
    request: { params: modelParams },
    responses: { 200: json("Resumed.", queuePausedSchema), ...adminErrors },
  }),
};

export type AdminQueuesDeps = Pick<AppDeps, "models" | "taskStats" | "queues" | "logger">;

/** `/v1/admin/queues`: each model's queue counts, the last hour's throughput and latency, pause/resume. */
export function bindAdminQueues(router: DeclaredRouter, deps: AdminQueuesDeps): void {
  const modelOf = (id: string): ModelConfig => {
    const model = deps.models.byId.get(id);
    if (!model) throw new ModelNotFoundError(id, [...deps.models.byId.keys()], "model");
    return model;
  };

  router.handle(adminQueueRoutes.list, async (_input, req, res) => {
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

  const setPaused = (paused: boolean) => async ({ params }: { params: { model: string } }, req: Request, res: Response) => {
    const model = modelOf(params.model);
    await (paused ? deps.queues.pause(model.queueName) : deps.queues.resume(model.queueName));
    deps.logger.info({ model: model.id, paused }, paused ? "queue paused" : "queue resumed");
    res.json(dataEnvelope({ model: model.id, paused }, req, res.locals.startedAt!));
  };
  router.handle(adminQueueRoutes.pause, setPaused(true));
  router.handle(adminQueueRoutes.resume, setPaused(false));
}
