import { NotFoundError } from "@llmq/core";
import { responseCreateRequestSchema, responseObjectSchema, responseTaskInput } from "@llmq/contract";
import type { Request, Response } from "express";
import { RESPONSE_WEBHOOK_EVENTS } from "@llmq/webhooks";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { closeSignal } from "../http/close-signal";
import { idempotencyClaimOf } from "../http/idempotency";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { DeclaredRouter, route } from "../http/route";
import { markOverhead, markWaiting } from "../observability/overhead";
import { json, openAIError, openAIErrors, openAIStreamLimits, rateLimitedAnswers } from "../openapi/responses";
import { unfinishedTaskError } from "../openai/task-errors";
import { submitTask } from "../services/submit-task";
import { responseObject, taskIdOfResponseId } from "./format";
import { streamResponse } from "./stream";

const responseIdParams = z.object({ responseId: z.string().meta({ description: "`resp_<task_id>`." }) });

/** OpenAI's Responses API: each response is a task (endpoint `response`). */
export const responseRoutes = {
  create: route({
    method: "post",
    path: "/v1/responses",
    summary: "Create a response (OpenAI Responses API; runs as a task)",
    description:
      "`background: true`: answered at once with status `queued`; poll `GET /v1/responses/{id}` or stream it. Otherwise the request waits for the response (a client that leaves cancels it). `stream: true`: Responses events as `text/event-stream`.",
    request: { body: { content: { "application/json": responseCreateRequestSchema } } },
    responses: rateLimitedAnswers({
      200: json("The response (queued when `background`, final otherwise), or its events as `text/event-stream`.", responseObjectSchema),
      ...openAIErrors,
      ...openAIStreamLimits,
      409: openAIError("`idempotency_request_in_progress`: a request with this Idempotency-Key is still being processed; see Retry-After."),
      422: openAIError("`idempotency_key_reused`: the Idempotency-Key came with another request."),
      413: openAIError("Body larger than the limit."),
    }),
  }),
  retrieve: route({
    method: "get",
    path: "/v1/responses/{responseId}",
    summary: "A response, as it stands or as it ended",
    request: { params: responseIdParams },
    responses: { 200: json("The response.", responseObjectSchema), ...openAIErrors },
  }),
};

export type ResponsesDeps = Pick<AppDeps, "taskService" | "models" | "hub" | "log" | "streamGuard" | "redis" | "keys" | "tasks" | "idempotency" | "openStreams" | "webhookService">;

export function responsesRouter(deps: ResponsesDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/responses");
  const { taskService } = deps;
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router.handle(responseRoutes.create, submissionLimit, async ({ body }, req: Request, res: Response) => {
    // Responses are told in OpenAI's event format, which has their endings only (no progress).
    const webhook = await deps.webhookService.accept(principalOf(req), body.webhook, RESPONSE_WEBHOOK_EVENTS);
    const waits = body.stream === true || body.background !== true;
    if (waits) await deps.openStreams.hold(principalOf(req), res);
    const { task, replayed } = await submitTask(deps, { caller: principalOf(req), input: responseTaskInput(body), webhook, claim: idempotencyClaimOf(req) });
    if (replayed) res.set("Idempotent-Replayed", "true");
    res.set("x-task-id", task.id);
    if (body.stream === true) return streamResponse(req, res, task, deps, { startingAfter: -1, cancelOnClose: body.background !== true });
    if (body.background === true) return res.json(responseObject(task));
    markWaiting(res);
    const current = await taskService.awaitTask(principalOf(req), task.id, { signal: closeSignal(res) });
    if (!current) return;
    if (current.status === "FAILED" || current.status === "EXPIRED") throw unfinishedTaskError(current);
    markOverhead(res, current);
    res.json(responseObject(current));
  });

  router.handle(responseRoutes.retrieve, async ({ params }, req, res) => {
    const taskId = taskIdOfResponseId(params.responseId);
    const notFound = () => new NotFoundError(`No response with id '${params.responseId}'.`, { param: "response_id", code: "response_not_found" });
    if (!taskId) throw notFound();
    const task = await taskService.get(principalOf(req), taskId).catch(() => {
      throw notFound();
    });
    if (task.endpoint !== "response") throw notFound();
    res.set("x-task-id", task.id).json(responseObject(task));
  });

  return router;
}
