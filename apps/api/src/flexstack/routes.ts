import { ValidationError, deadlinesOf, isFinal, taskData, textCompletionRequestSchema } from "@llmq/core";
import { decodeCursor } from "@llmq/db";
import { QueueLine, isStreamId } from "@llmq/queue";
import { type Request, Router } from "express";
import type { AppDeps } from "../deps";
import { prefersAsync } from "../http/prefer";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { validate } from "../http/validate";
import { closeSignal } from "../http/close-signal";
import { openSse } from "../http/sse";
import { markOverhead, markWaiting } from "../observability/overhead";
import { QueueEstimator } from "../services/queue-estimate";
import { dataEnvelope, taskEnvelope } from "./envelope";
import { historyRow } from "./history-row";
import { historyQuerySchema, taskUpdatesQuerySchema, textCompletionQuerySchema } from "./schemas";
import { streamTaskEvents } from "./task-stream";
import { submitTask } from "../services/submit-task";

/** Resume point of an SSE stream: Last-Event-ID header (or `?last_event_id=`), else the start. */
function resumeFrom(req: Request): string {
  const raw = req.get("last-event-id") ?? (typeof req.query.last_event_id === "string" ? req.query.last_event_id : "");
  if (!raw) return "0";
  if (!isStreamId(raw)) throw new ValidationError("Last-Event-ID is not an event id of this stream.", { param: "Last-Event-ID" });
  return raw;
}

/** The Flexstack-style task API: `/v1/ai/...`. */
export function flexstackRouter(deps: AppDeps): Router {
  const router = Router();
  const { taskService, models, env } = deps;
  const modelOf = (id: string) => models.byId.get(id);
  const streamDeps = { hub: deps.hub, log: deps.log, taskService, modelOf, streamGuard: deps.streamGuard };

  const queueEstimator = new QueueEstimator(new QueueLine(deps.redis, deps.keys.bull), models);
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router.post("/text_completion", submissionLimit, async (req, res) => {
    const query = validate(textCompletionQuerySchema, req.query, "query");
    const body = validate(textCompletionRequestSchema, req.body ?? {});
    const { model, ...configs } = body.configs;
    const webhook = await deps.webhookService.accept(principalOf(req), body.webhook);
    const input = {
      endpoint: "task" as const,
      model,
      messages: body.messages,
      configs,
      deadlines: deadlinesOf(body),
      fieldNames: { model: "configs.model", maxTokens: "configs.max_tokens" },
    };
    const async = !query.stream && (query.async || prefersAsync(req));
    // A stream or a synchronous wait holds a connection: it needs a slot before anything is written.
    if (!async) await deps.openStreams.hold(principalOf(req), res);
    const task = await submitTask(req, res, deps, input, webhook);
    res.set("X-Task-Id", task.id);
    const startedAt = res.locals.startedAt!;
    if (query.stream) return streamTaskEvents(req, res, task, "0", streamDeps);
    if (async) {
      res.status(202).set("Location", `/v1/ai/tasks/${task.id}`);
      return res.json(taskEnvelope(task, modelOf(task.model), req, startedAt));
    }
    const waitSeconds = Math.min(query.wait ?? env.WAIT_DEFAULT_SECONDS, env.WAIT_MAX_SECONDS);
    markWaiting(res);
    const current = await taskService.awaitTask(principalOf(req), task.id, { timeoutMs: waitSeconds * 1000, signal: closeSignal(res) });
    if (!current) return;
    if (isFinal(current.status)) markOverhead(res, current);
    res.json(taskEnvelope(current, modelOf(current.model), req, startedAt));
  });

  router.get("/tasks", async (req, res) => {
    const query = validate(historyQuerySchema, req.query, "query");
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
  router.get("/tasks/updates", async (req, res) => {
    const query = validate(taskUpdatesQuerySchema, req.query, "query");
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

  router.get("/tasks/:taskId", async (req, res) => {
    const task = await taskService.get(principalOf(req), req.params.taskId);
    res.json(taskEnvelope(task, modelOf(task.model), req, res.locals.startedAt!, await queueEstimator.estimate(task)));
  });

  router.get("/tasks/:taskId/events", async (req, res) => {
    const afterId = resumeFrom(req);
    const task = await taskService.get(principalOf(req), req.params.taskId);
    await deps.openStreams.hold(principalOf(req), res);
    streamTaskEvents(req, res, task, afterId, streamDeps);
  });

  router.post("/tasks/:taskId/cancel", async (req, res) => {
    const task = await taskService.cancel(principalOf(req), req.params.taskId);
    res.json(taskEnvelope(task, modelOf(task.model), req, res.locals.startedAt!));
  });

  router.post("/tasks/:taskId/retry", submissionLimit, async (req: Request<{ taskId: string }>, res) => {
    const task = await taskService.retry(principalOf(req), req.params.taskId);
    res.status(201).set({ Location: `/v1/ai/tasks/${task.id}`, "X-Task-Id": task.id });
    res.json(taskEnvelope(task, modelOf(task.model), req, res.locals.startedAt!));
  });

  router.get("/models", async (req, res) => {
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
