import { NotFoundError } from "@llmq/core";
import { openAIStreamErrorSchema, responseCreateRequestSchema, responseObjectSchema, responseRetrieveQuerySchema, responseStreamEvents, responseTaskInput } from "@llmq/contract";
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
import { openAIError, openAIErrors, openAIStreamLimits, rateLimitedAnswers } from "../openapi/responses";
import { unfinishedTaskError } from "../openai/task-errors";
import { submitTask } from "../services/submit-task";
import { responseObject, taskIdOfResponseId } from "./format";
import { streamResponse } from "./stream";

const responseIdParams = z.object({ responseId: z.string().meta({ description: "`resp_<task_id>`." }) });

/** A 200 that is the response object, or its events as `text/event-stream` (`event: <type>`, `data: <event>`). */
const responseOrEvents = (description: string) => ({
  description,
  content: { "application/json": responseObjectSchema, "text/event-stream": z.string() },
  // `message`: the unnamed `data: {"error": ...}` frame that ends a stream whose credential stops granting it.
  events: { ...responseStreamEvents, message: openAIStreamErrorSchema },
});

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
      200: responseOrEvents(
        "The response (queued when `background`, final otherwise), or with `stream: true` its events as `text/event-stream`: `response.created` (0), `response.queued` (background), `response.in_progress`, each output item's events, then `response.completed`, `response.incomplete` (also a cancelled response: its status says `cancelled`) or `response.failed`; no `[DONE]`.",
      ),
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
    summary: "A response, as it stands or as it ended; or its events (`stream=true`)",
    description:
      "`stream=true`: the response's events as `text/event-stream`, from sequence 0 or after `starting_after`, the same events and numbers as when it was created with `stream: true`, from any API process, for as long as the response is kept (created with `stream: true` or not). A response still running is followed live; a non-background one is not cancelled when this stream's client leaves.",
    request: { params: responseIdParams, query: responseRetrieveQuerySchema },
    responses: { 200: responseOrEvents("The response, or its events (`stream=true`)."), ...openAIErrors, ...openAIStreamLimits },
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
    if (body.stream === true) return streamResponse(req, res, task, deps, { startingAfter: -1, cancelOnClose: body.background !== true, obfuscate: body.stream_options?.include_obfuscation === true });
    if (body.background === true) return res.json(responseObject(task));
    markWaiting(res);
    const current = await taskService.awaitTask(principalOf(req), task.id, { signal: closeSignal(res) });
    if (!current) return;
    if (current.status === "FAILED" || current.status === "EXPIRED") throw unfinishedTaskError(current);
    markOverhead(res, current);
    res.json(responseObject(current));
  });

  router.handle(responseRoutes.retrieve, async ({ params, query }, req, res) => {
    const taskId = taskIdOfResponseId(params.responseId);
    const notFound = () => new NotFoundError(`No response with id '${params.responseId}'.`, { param: "response_id", code: "response_not_found" });
    if (!taskId) throw notFound();
    const task = await taskService.get(principalOf(req), taskId).catch(() => {
      throw notFound();
    });
    if (task.endpoint !== "response") throw notFound();
    res.set("x-task-id", task.id);
    if (query.stream) {
      await deps.openStreams.hold(principalOf(req), res);
      return streamResponse(req, res, task, deps, { startingAfter: query.starting_after ?? -1, cancelOnClose: false, obfuscate: query.include_obfuscation });
    }
    res.json(responseObject(task));
  });

  return router;
}
