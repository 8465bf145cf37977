import { ConflictError, ValidationError, isFinal } from "@llmq/core";
import {
  openAIStreamErrorSchema,
  responseCreateRequestSchema,
  responseDeletedSchema,
  responseInputItemListSchema,
  responseInputItemsQuerySchema,
  responseObjectSchema,
  responseRetrieveQuerySchema,
  responseStreamEvents,
  responseTaskInput,
} from "@llmq/contract";
import type { TaskRecord } from "@llmq/db";
import { RESPONSE_WEBHOOK_EVENTS } from "@llmq/webhooks";
import type { Request, Response } from "express";
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
import { conversationOf } from "./conversation";
import { responseObject, responseStatusOf, storedRequestOf } from "./format";
import { inputItemPage, inputItemsOf } from "./input-items";
import { findPreviousResponse, findResponse } from "./lookup";
import { pollAfterMs } from "./poll-after";
import { streamResponse } from "./stream";

const responseIdParams = z.object({ responseId: z.string().meta({ description: "`resp_<task_id>`." }) });

/** `openai-poll-after-ms` on answers about a response that is not final. */
const pollAfterHeader = z.object({
  "openai-poll-after-ms": z
    .int()
    .optional()
    .meta({ description: "While the response is queued or in progress: when to poll again (ms), from its ETA when queued (100 ms .. 5 s), else 1 s. Absent once final." }),
});

/**
 * A 200 that is the response object (with `openai-poll-after-ms` while not final), or its events as
 * `text/event-stream` (`event: <type>`, `data: <event>`).
 */
const responseOrEvents = (description: string) => ({
  description,
  content: { "application/json": responseObjectSchema, "text/event-stream": z.string() },
  // `message`: the unnamed `data: {"error": ...}` frame that ends a stream whose credential stops granting it.
  events: { ...responseStreamEvents, message: openAIStreamErrorSchema },
  headers: pollAfterHeader,
});

/** OpenAI's Responses API: each response is a task (endpoint `response`). */
export const responseRoutes = {
  create: route({
    method: "post",
    path: "/v1/responses",
    summary: "Create a response (OpenAI Responses API; runs as a task)",
    description:
      "`background: true`: answered at once with status `queued`, its place in line (`queue`) and `openai-poll-after-ms`; poll `GET /v1/responses/{id}` or stream it. Otherwise the request waits for the response (a client that leaves cancels it). `stream: true`: Responses events as `text/event-stream`. `previous_response_id` continues a finished, stored response's conversation (its instructions left out). `store: false`: answered, then its content is erased (the task row keeps its usage); it cannot be retrieved or continued.",
    request: { body: { content: { "application/json": responseCreateRequestSchema } } },
    responses: rateLimitedAnswers({
      200: responseOrEvents(
        "The response (queued when `background`, final otherwise), or with `stream: true` its events as `text/event-stream`: `response.created` (0), `response.queued` (background), `response.in_progress`, each output item's events, then `response.completed`, `response.incomplete` (also a cancelled response: its status says `cancelled`) or `response.failed`; no `[DONE]`.",
      ),
      ...openAIErrors,
      ...openAIStreamLimits,
      400: openAIError(
        "`invalid_request_error` with `param` naming the field (`text.format` or `tools` when the model's provider cannot honour them); `previous_response_not_found` (unknown, another tenant's, deleted or `store: false`) or `previous_response_not_finished`, with `param: previous_response_id`.",
      ),
      409: openAIError(
        "`idempotency_request_in_progress`: a request with this Idempotency-Key is still being processed; see Retry-After. `response_not_stored`: the Idempotency-Key's response was `store: false`, answered to the first request only. `task_expired`: a waited response expired before it started.",
      ),
      422: openAIError("`idempotency_key_reused`: the Idempotency-Key came with another request."),
      413: openAIError("Body larger than the limit."),
    }),
  }),
  retrieve: route({
    method: "get",
    path: "/v1/responses/{responseId}",
    summary: "A response, as it stands or as it ended; or its events (`stream=true`)",
    description:
      "A queued response carries its place in line and ETA (`queue`), and `openai-poll-after-ms` while not final. Deleted and `store: false` responses are 404. `stream=true`: the response's events as `text/event-stream`, from sequence 0 or after `starting_after`, the same events and numbers as when it was created with `stream: true`, from any API process, for as long as the response is kept (created with `stream: true` or not). A response still running is followed live; a non-background one is not cancelled when this stream's client leaves. A response cancelled while it ran is answered (as JSON, or its stream's end) once its worker has recorded the attempt's output, at most `CANCELLED_OUTPUT_WAIT_MS` after the cancel: the live end equals the replay's.",
    request: { params: responseIdParams, query: responseRetrieveQuerySchema },
    responses: { 200: responseOrEvents("The response, or its events (`stream=true`)."), ...openAIErrors, ...openAIStreamLimits },
  }),
  cancel: route({
    method: "post",
    path: "/v1/responses/{responseId}/cancel",
    summary: "Cancel a background response (the upstream request is aborted; a cancelled response stays cancelled)",
    description:
      "Queued or in progress: cancelled, and the answer shows it so. In progress: the upstream request is stopped, and the answer waits for the worker to record what the attempt generated (usually milliseconds, at most `CANCELLED_OUTPUT_WAIT_MS` after the cancel), so it carries the text and usage up to the cancel that every later read shows. Already final (completed, failed, incomplete, cancelled): answered unchanged, as OpenAI does. A response not created with `background: true` is 400, as OpenAI answers (its own request cancels it by leaving).",
    request: { params: responseIdParams },
    responses: { 200: json("The response after the cancel.", responseObjectSchema), ...openAIErrors },
  }),
  delete: route({
    method: "delete",
    path: "/v1/responses/{responseId}",
    summary: "Delete a response",
    description:
      "An unfinished response is cancelled first. Its content (input, output, instructions, metadata) is erased and it is 404 to every response route and to `previous_response_id` from then on; its task stays in the task history with its status, model, timings and usage (the operator's record), without content.",
    request: { params: responseIdParams },
    responses: { 200: json("Deleted.", responseDeletedSchema), ...openAIErrors },
  }),
  inputItems: route({
    method: "get",
    path: "/v1/responses/{responseId}/input_items",
    summary: "The input items of a response (OpenAI's list shape)",
    description:
      "This request's own `input` items (not the instructions, not a previous response's conversation), each with an id stable across reads; newest first unless `order=asc`; `after` an item id, `limit` 1..100 (default 20).",
    request: { params: responseIdParams, query: responseInputItemsQuerySchema },
    responses: { 200: json("One page of items.", responseInputItemListSchema), ...openAIErrors },
  }),
};

export type ResponsesDeps = Pick<AppDeps, "taskService" | "models" | "hub" | "log" | "streamGuard" | "redis" | "keys" | "tasks" | "idempotency" | "openStreams" | "webhookService" | "logger" | "queueEstimator">;

export function responsesRouter(deps: ResponsesDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/responses");
  const { taskService } = deps;
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });
  const { queueEstimator } = deps;

  /** Answers the response as it stands: with its place in line while queued, and `openai-poll-after-ms` while not final. */
  async function answer(res: Response, task: TaskRecord): Promise<void> {
    const status = responseStatusOf(task);
    const estimate = status === "queued" ? await queueEstimator.estimate(task) : null;
    const queue = estimate ? { position: estimate.queue_position, eta_seconds: estimate.eta_seconds } : undefined;
    const after = pollAfterMs(status, estimate?.eta_seconds ?? null);
    if (after !== null) res.set("openai-poll-after-ms", String(after));
    res.set("x-task-id", task.id).json(responseObject(task, queue));
  }

  /**
   * Erases a finished response's content (deleted, or `store: false` once answered): the row stays for
   * the history without it, and its event stream (its text, token by token) goes at once.
   */
  const erase = async (task: TaskRecord) => {
    await deps.tasks.eraseResponse(task.id);
    await deps.log.discard(task.id);
  };

  /** Waits for a streamed `store: false` response to end, then erases it. */
  async function eraseOnceFinal(caller: ReturnType<typeof principalOf>, task: TaskRecord): Promise<void> {
    try {
      const final = await taskService.awaitTask(caller, task, { signal: new AbortController().signal });
      if (final) await erase(final);
    } catch (error) {
      deps.logger.warn({ err: error, taskId: task.id }, "could not erase a store: false response");
    }
  }

  router.handle(responseRoutes.create, submissionLimit, async ({ body }, req: Request, res: Response) => {
    const caller = principalOf(req);
    const history = body.previous_response_id ? conversationOf(await findPreviousResponse(taskService, caller, body.previous_response_id)) : [];
    // Responses are told in OpenAI's event format, which has their endings only (no progress).
    const webhook = await deps.webhookService.accept(caller, body.webhook, RESPONSE_WEBHOOK_EVENTS);
    const waits = body.stream === true || body.background !== true;
    if (waits) await deps.openStreams.hold(caller, res);
    const { task, replayed } = await submitTask(deps, { caller, input: responseTaskInput(body, history), webhook, claim: idempotencyClaimOf(req) });
    if (replayed) res.set("Idempotent-Replayed", "true");
    if (replayed && body.store === false) {
      throw new ConflictError("The response of this Idempotency-Key was created with store: false: it was answered to the first request only and is not kept.", { code: "response_not_stored" });
    }
    res.set("x-task-id", task.id);
    const stored = body.store !== false;
    if (body.stream === true) {
      // Not stored: erased once its stream is over (a client that leaves cancels it: it ends soon after).
      if (!stored) res.once("close", () => void eraseOnceFinal(caller, task));
      return streamResponse(req, res, task, deps, { startingAfter: -1, cancelOnClose: body.background !== true, obfuscate: body.stream_options?.include_obfuscation === true });
    }
    if (body.background === true) return answer(res, task);
    markWaiting(res);
    const current = await taskService.awaitTask(caller, task, { signal: closeSignal(res) });
    if (!current) {
      // The client left: its response is cancelled (nobody waits for it), and erased unless stored.
      const cancelled = await taskService.cancel(caller, task.id);
      if (!stored) await erase(cancelled);
      return;
    }
    if (!stored) await erase(current);
    if (current.status === "FAILED" || current.status === "EXPIRED") throw unfinishedTaskError(current);
    markOverhead(res, current);
    res.json(responseObject(current));
  });

  router.handle(responseRoutes.retrieve, async ({ params, query }, req, res) => {
    const task = await findResponse(taskService, principalOf(req), params.responseId);
    if (query.stream) {
      res.set("x-task-id", task.id);
      await deps.openStreams.hold(principalOf(req), res);
      return streamResponse(req, res, task, deps, { startingAfter: query.starting_after ?? -1, cancelOnClose: false, obfuscate: query.include_obfuscation });
    }
    // Cancelled a moment ago while it ran: answered with the output and usage its worker keeps.
    await answer(res, await taskService.withKeptOutput(principalOf(req), task));
  });

  router.handle(responseRoutes.cancel, async ({ params }, req, res) => {
    const caller = principalOf(req);
    const task = await findResponse(taskService, caller, params.responseId);
    if (!storedRequestOf(task).background) {
      throw new ValidationError(`Only responses created with background: true can be cancelled; '${params.responseId}' was not (a waiting request cancels its response by leaving).`, {
        param: "response_id",
        code: "response_not_background",
      });
    }
    const cancelled = isFinal(task.status) ? task : await taskService.cancel(caller, task.id);
    // The answer waits (briefly, bounded) for the worker to keep what the attempt generated, so it carries
    // the usage up to the cancel and is the response every later read shows.
    const current = await taskService.withKeptOutput(caller, cancelled);
    res.set("x-task-id", current.id).json(responseObject(current));
  });

  router.handle(responseRoutes.delete, async ({ params }, req, res) => {
    const caller = principalOf(req);
    const task = await findResponse(taskService, caller, params.responseId);
    const final = isFinal(task.status) ? task : await taskService.cancel(caller, task.id);
    await erase(final);
    res.set("x-task-id", task.id).json({ id: params.responseId, object: "response" as const, deleted: true as const });
  });

  router.handle(responseRoutes.inputItems, async ({ params, query }, req, res) => {
    const task = await findResponse(taskService, principalOf(req), params.responseId);
    res.set("x-task-id", task.id).json(inputItemPage(inputItemsOf(task), query));
  });

  return router;
}
