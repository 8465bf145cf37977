import { ModelNotFoundError, type ModelConfig } from "@llmq/core";
import { adminQueuesSchema, queuePausedSchema } from "@llmq/contract";
import type { TenantName } from "@llmq/db";
import type { TenantWaiting } from "@llmq/queue";
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
      "Latency is `completed_at - created_at` of the COMPLETED tasks finished in the window (p50/p95 with `percentile_cont`); `failed` counts FAILED tasks. `per_minute` holds 60 buckets, oldest first. `waiting_by_tenant`: the run queue's waiting tasks per tenant (API key, else user) and tier, the 20 largest, named in one query for every queue of the answer.",
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

export type AdminQueuesDeps = Pick<AppDeps, "models" | "taskStats" | "queues" | "users" | "logger">;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const USER_TENANT = "u:";

/** A run-queue tenant as the engine names it (the API key's id, else `u:<user id>`): which table and which id. */
function tenantRef(tenant: string): { kind: TenantName["kind"]; id: string } {
  return tenant.startsWith(USER_TENANT) ? { kind: "user", id: tenant.slice(USER_TENANT.length) } : { kind: "api_key", id: tenant };
}

/** Names every tenant of every queue's top list in ONE statement (the ids are checked as uuids first: the run queue's strings are not trusted to be). */
async function tenantNames(deps: AdminQueuesDeps, lists: readonly TenantWaiting[][]): Promise<Map<string, TenantName>> {
  const ids = { api_key: new Set<string>(), user: new Set<string>() };
  for (const list of lists) {
    for (const { tenant } of list) {
      const ref = tenantRef(tenant);
      if (UUID.test(ref.id)) ids[ref.kind].add(ref.id.toLowerCase());
    }
  }
  const names = await deps.users.tenantNames([...ids.api_key], [...ids.user]);
  return new Map(names.map((name) => [`${name.kind}:${name.id}`, name]));
}

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
    const names = await tenantNames(deps, details.map((detail) => detail.waitingByTenant));
    const queues = deps.models.models.map((model, index) => ({
      model: model.id,
      queue_name: model.queueName,
      paused: details[index]!.paused,
      counts: details[index]!.counts,
      last_hour: lastHour(model.id, stats, start),
      waiting_by_tenant: details[index]!.waitingByTenant.map(({ tenant, tier, waiting }) => {
        const ref = tenantRef(tenant);
        const known = names.get(`${ref.kind}:${ref.id.toLowerCase()}`);
        return { tenant, tenant_kind: ref.kind, name: known?.name ?? null, key_prefix: known?.keyPrefix ?? null, tier, waiting };
      }),
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
