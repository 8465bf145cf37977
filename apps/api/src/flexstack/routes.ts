import { ValidationError, isFinal } from "@llmq/core";
import {
  flexstackTaskInput,
  historyQuerySchema,
  historySchema,
  modelsSchema,
  taskFeedEvents,
  taskStreamEvents,
  taskEnvelopeSchema,
  taskUpdatesQuerySchema,
  textCompletionQuerySchema,
  textCompletionRequestSchema,
} from "@llmq/contract";
import { decodeCursor } from "@llmq/db";
import { isStreamId } from "@llmq/queue";
import type { Request } from "express";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { idempotencyClaimOf } from "../http/idempotency";
import { prefersAsync } from "../http/prefer";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { DeclaredRouter, route } from "../http/route";
import { openSse } from "../http/sse";
import { flexstackError, flexstackErrors, json, rateLimitedAnswers, sse, streamLimits, withOverhead } from "../openapi/responses";
import { closeSignal } from "../http/close-signal";
import { markOverhead, markWaiting } from "../observability/overhead";
import { dataEnvelope, taskEnvelope } from "./envelope";
import { historyRow } from "./history-row";
import { streamTaskEvents } from "./task-stream";
import { submitTask } from "../services/submit-task";

const taskIdParams = z.object({ taskId: z.string().meta({ description: "The task id (32 hex characters)." }) });
const rateLimited = { 429: flexstackError("`rate_limit_exceeded`, `token_quota_exceeded` or `too_many_concurrent_tasks` (the key's or user's limits), with Retry-After.") };

/** The Flexstack-style task routes, `/v1/ai/...` (native batches and webhooks declare their own). */
export const flexstackRoutes = {
  submit: route({
    method: "post",
    path: "/v1/ai/text_completion",
    summary: "Submit a text completion task",
    description:
      "Waits for the result (up to `wait` seconds, default 60) and answers the task envelope; `?async=true` or `Prefer: respond-async` answers 202 at once; `?stream=true` streams SSE events `status`, `token`, then `result` (the envelope); a stream whose credential stops granting it ends with `event: error` (see `GET /v1/ai/tasks/{taskId}/events`). A waited answer whose task finished carries `x-llmq-overhead-ms`: its time in the service outside the upstream call.",
    request: { query: textCompletionQuerySchema, body: { content: { "application/json": textCompletionRequestSchema } } },
    responses: rateLimitedAnswers({
      200: withOverhead({
        description: "The task (COMPLETED, or its current state if the wait ran out), or its events as `text/event-stream`.",
        content: { "application/json": taskEnvelopeSchema, "text/event-stream": z.string() },
        events: taskStreamEvents,
      }),
      202: json("Accepted; poll `GET /v1/ai/tasks/{taskId}`.", taskEnvelopeSchema),
      ...flexstackErrors,
      409: flexstackError("`idempotency_request_in_progress`: a request with this Idempotency-Key is still being processed; see Retry-After."),
      422: flexstackError("`idempotency_key_reused`: the Idempotency-Key came with another request."),
      413: flexstackError("Body larger than the limit."),
      ...rateLimited,
      429: flexstackError(
        "`rate_limit_exceeded`, `token_quota_exceeded` or `too_many_concurrent_tasks` (the key's or user's limits), with Retry-After; or `too_many_open_streams`: a stream or a synchronous wait past the key's or user's `max_open_streams`, over every API process (nothing was written; Retry-After: 1).",
      ),
      503: streamLimits[503],
    }),
  }),
  history: route({
    method: "get",
    path: "/v1/ai/tasks",
    summary: "Task history (newest first, cursor pagination)",
    description: "`user_id` narrows the admin's view to one user; anyone else only ever sees their own tasks (another user's id gives an empty page).",
    request: { query: historyQuerySchema },
    responses: { 200: json("One page of tasks.", historySchema), ...flexstackErrors },
  }),
  updates: route({
    method: "get",
    path: "/v1/ai/tasks/updates",
    summary: "Live task list: Server-Sent Events of the tasks the caller may see",
    description:
      "One `event: task` per change, its `data` a history row (as in `GET /v1/ai/tasks`, with `owner_id`): when a task is created, starts, makes progress (about once a second at most) or ends. Changes are gathered for about 250 ms. The admin sees every task (or one user's with `user_id`); anyone else their own. Comment heartbeats every 15 s; the stream stays open. Nothing is replayed: load the list with `GET /v1/ai/tasks`, then merge the events by `task_id`.",
    request: { query: taskUpdatesQuerySchema },
    responses: { 200: sse("`task` events, each a task row.", taskFeedEvents), ...flexstackErrors, ...streamLimits },
  }),
  get: route({
    method: "get",
    path: "/v1/ai/tasks/{taskId}",
    summary: "A task's current state",
    request: { params: taskIdParams },
    responses: { 200: json("The task envelope.", taskEnvelopeSchema), ...flexstackErrors },
  }),
  events: route({
    method: "get",
    path: "/v1/ai/tasks/{taskId}/events",
    summary: "Server-Sent Events of a task, replayed from the start or after Last-Event-ID",
    request: { params: taskIdParams, headers: z.object({ "last-event-id": z.string().optional() }) },
    responses: { 200: sse("`status`, `token` and finally `result` events; closes after `result`. From the start, an unfinished task opens with its `PENDING` status (id `0-1`: a task's stream holds its events from the first one after `PENDING`).", taskStreamEvents), ...flexstackErrors, ...streamLimits },
  }),
  cancel: route({
    method: "post",
    path: "/v1/ai/tasks/{taskId}/cancel",
    summary: "Cancel a pending or running task",
    request: { params: taskIdParams },
    responses: { 200: json("The task after cancellation.", taskEnvelopeSchema), ...flexstackErrors },
  }),
  retry: route({
    method: "post",
    path: "/v1/ai/tasks/{taskId}/retry",
    summary: "Run a finished task again, as a new task",
    description:
      "Creates a NEW task with the same owner, model, messages and configs (the old task is untouched) and answers its envelope at once, like `?async=true`. Only COMPLETED, FAILED, CANCELLED or EXPIRED tasks: others answer 409 `task_not_final`. Counts against the rate limit.",
    request: { params: taskIdParams },
    responses: rateLimitedAnswers({
      201: json("The new task (PENDING); `Location` points to it.", taskEnvelopeSchema),
      ...flexstackErrors,
      409: flexstackError("`task_not_final`."),
      ...rateLimited,
    }),
  }),
  models: route({
    method: "get",
    path: "/v1/ai/models",
    summary: "Served models with their queues and live counts",
    responses: { 200: json("Models.", modelsSchema), ...flexstackErrors },
  }),
};

/** What the task routes use, and nothing more. */
export type FlexstackDeps = Pick<AppDeps, "taskService" | "models" | "hub" | "log" | "streamGuard" | "redis" | "keys" | "webhookService" | "tasks" | "feed" | "queues" | "queueEstimator" | "idempotency" | "openStreams"> & {
  env: Pick<AppDeps["env"], "WAIT_DEFAULT_SECONDS" | "WAIT_MAX_SECONDS">;
};

/** Resume point of an SSE stream: Last-Event-ID header (or `?last_event_id=`), else the start. */
function resumeFrom(req: Request): string {
  const raw = req.get("last-event-id") ?? (typeof req.query.last_event_id === "string" ? req.query.last_event_id : "");
  if (!raw) return "0";
  if (!isStreamId(raw)) throw new ValidationError("Last-Event-ID is not an event id of this stream.", { param: "Last-Event-ID" });
  return raw;
}

/** The Flexstack-style task API: `/v1/ai/...`. */
export function flexstackRouter(deps: FlexstackDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/ai");
  const { taskService, models, env } = deps;
  const modelOf = (id: string) => models.byId.get(id);
  const streamDeps = { hub: deps.hub, log: deps.log, taskService, modelOf, streamGuard: deps.streamGuard };

  const { queueEstimator } = deps;
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router.handle(flexstackRoutes.submit, submissionLimit, async ({ query, body }, req, res) => {
    const caller = principalOf(req);
    const webhook = await deps.webhookService.accept(caller, body.webhook);
    const async = !query.stream && (query.async || prefersAsync(req));
    // A stream or a synchronous wait holds a connection: it needs a slot before anything is written.
    if (!async) await deps.openStreams.hold(caller, res);
    const { task, replayed } = await submitTask(deps, { caller, input: flexstackTaskInput(body), webhook, claim: idempotencyClaimOf(req) });
    if (replayed) res.set("Idempotent-Replayed", "true");
    res.set("X-Task-Id", task.id);
    const startedAt = res.locals.startedAt!;
    if (query.stream) return streamTaskEvents(req, res, task, "0", streamDeps);
    if (async) {
      res.status(202).set("Location", `/v1/ai/tasks/${task.id}`);
      return res.json(taskEnvelope(task, modelOf(task.model), req, startedAt));
    }
    const waitSeconds = Math.min(query.wait ?? env.WAIT_DEFAULT_SECONDS, env.WAIT_MAX_SECONDS);
    markWaiting(res);
    const current = await taskService.awaitTask(principalOf(req), task, { timeoutMs: waitSeconds * 1000, signal: closeSignal(res) });
    if (!current) return;
    if (isFinal(current.status)) markOverhead(res, current);
    res.json(taskEnvelope(current, modelOf(current.model), req, startedAt));
  });

  router.handle(flexstackRoutes.history, async ({ query }, req, res) => {
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    if (cursor === null) throw new ValidationError("query: cursor is not one this API issued", { param: "cursor" });
    const page = await deps.tasks.history({
      viewer: principalOf(req),
      ownerId: query.user_id,
      status: query.status,
      model: query.model,
      batchId: query.batch_id,
      createdFrom: query.created_from,
      createdTo: query.created_to,
      cursor,
      limit: query.limit,
    });
    res.json(
      dataEnvelope(
        { tasks: page.tasks.map(historyRow), next_cursor: page.nextCursor, has_more: page.nextCursor !== null },
        req,
        res.locals.startedAt!,
      ),
    );
  });

  // Before /tasks/:taskId, which would take "updates" for a task id.
  router.handle(flexstackRoutes.updates, async ({ query }, req, res) => {
    const principal = principalOf(req);
    await deps.openStreams.hold(principal, res);
    // The admin may narrow the feed to one user; anyone else gets their own tasks, and nothing for another's id.
    const viewer = query.user_id && principal.isAdmin ? { userId: query.user_id, isAdmin: false } : principal;
    let unregister: () => void = () => undefined;
    // Every owner's rows, or another user's, are the admin's to see: such a feed ends if the role goes.
    const needsAdmin = viewer.isAdmin || viewer.userId !== principal.userId;
    const sse = openSse(res, { guard: deps.streamGuard, principal, needsAdmin, onClose: () => unregister() });
    if (sse.closed || (query.user_id && !principal.isAdmin && query.user_id !== principal.userId)) return;
    unregister = deps.feed.register(viewer, (json) => sse.send({ event: "task", data: json }));
  });

  router.handle(flexstackRoutes.get, async ({ params }, req, res) => {
    const task = await taskService.get(principalOf(req), params.taskId);
    res.json(taskEnvelope(task, modelOf(task.model), req, res.locals.startedAt!, await queueEstimator.estimate(task)));
  });

  router.handle(flexstackRoutes.events, async ({ params }, req, res) => {
    const afterId = resumeFrom(req);
    const task = await taskService.get(principalOf(req), params.taskId);
    await deps.openStreams.hold(principalOf(req), res);
    streamTaskEvents(req, res, task, afterId, streamDeps);
  });

  router.handle(flexstackRoutes.cancel, async ({ params }, req, res) => {
    const task = await taskService.cancel(principalOf(req), params.taskId);
    res.json(taskEnvelope(task, modelOf(task.model), req, res.locals.startedAt!));
  });

  router.handle(flexstackRoutes.retry, submissionLimit, async ({ params }, req, res) => {
    const task = await taskService.retry(principalOf(req), params.taskId);
    res.status(201).set({ Location: `/v1/ai/tasks/${task.id}`, "X-Task-Id": task.id });
    res.json(taskEnvelope(task, modelOf(task.model), req, res.locals.startedAt!));
  });

  router.handle(flexstackRoutes.models, async (_input, req, res) => {
    const rows = await Promise.all(
      models.models.map(async (model) => ({
        model: model.id,
        queue_name: model.queueName,
        task_type: model.taskType,
        provider: model.provider.type,
        upstream_model: model.upstreamModel,
        concurrency: model.concurrency,
        max_tokens: model.maxTokens,
        description: model.description,
        queue: await deps.queues.counts(model.queueName),
      })),
    );
    res.json(dataEnvelope(rows, req, res.locals.startedAt!));
  });

  return router;
}
