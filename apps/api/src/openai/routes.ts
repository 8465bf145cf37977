import { ModelNotFoundError, NotFoundError, isFinal } from "@llmq/core";
import {
  chatCompletionChunkSchema,
  chatCompletionRequestSchema,
  chatCompletionSchema,
  chatTaskInput,
  completionRequestSchema,
  completionTaskInput,
  modelListSchema,
  modelSchema,
  openAIStreamErrorSchema,
  textCompletionChunkSchema,
  textCompletionSchema,
} from "@llmq/contract";
import type { TaskRecord } from "@llmq/db";
import type { Request, Response } from "express";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { idempotencyClaimOf } from "../http/idempotency";
import { closeSignal } from "../http/close-signal";
import { prefersAsync } from "../http/prefer";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { DeclaredRouter, route } from "../http/route";
import { json, openAIError, openAIErrors, openAIStreamLimits, rateLimitedAnswers, withOverhead } from "../openapi/responses";
import { chatCompletionId, chatCompletionObject, taskIdOfCompletionId, textCompletionId, textCompletionObject } from "./format";
import { markOverhead, markWaiting } from "../observability/overhead";
import { streamCompletion } from "./stream";
import { submitTask } from "../services/submit-task";
import { unfinishedTaskError } from "./task-errors";

/** Models are listed with the time this process loaded them (OpenAI's `created`). */
const LOADED_AT = Math.floor(Date.now() / 1000);

const preferHeader = z.object({ prefer: z.string().optional().meta({ description: "`respond-async`: answer 202 at once." }) });
const completionIdParams = z.object({ completionId: z.string().meta({ description: "`chatcmpl-<task_id>` or `cmpl-<task_id>`." }) });
const submitErrors = {
  ...openAIErrors,
  ...openAIStreamLimits,
  409: openAIError("`idempotency_request_in_progress`: a request with this Idempotency-Key is still being processed; see Retry-After."),
  422: openAIError("`idempotency_key_reused`: the Idempotency-Key came with another request."),
  413: openAIError("Body larger than the limit."),
};

/** The OpenAI-compatible completion and model routes (files and batches declare their own). */
export const openAIRoutes = {
  chat: route({
    method: "post",
    path: "/v1/chat/completions",
    summary: "Create a chat completion (OpenAI-compatible; runs as a task)",
    description:
      "Non-stream: waits for the task while the connection is open. `stream: true`: `chat.completion.chunk` SSE frames, a usage chunk with `stream_options.include_usage`, then `data: [DONE]`; disconnecting cancels the task, and so does a revoked key or deleted account, which ends the stream with a `data: {\"error\": ...}` frame (`api_key_revoked`, `account_deleted`); an expired access token ends it with `access_token_expired` and the task runs on, to be fetched with the GET below. `Prefer: respond-async`: 202 at once, then `GET /v1/chat/completions/{id}`. The task id is in the `x-task-id` header; a non-stream answer with its result carries `x-llmq-overhead-ms`, the time spent in the service outside the upstream call (ms).",
    request: { headers: preferHeader, body: { content: { "application/json": chatCompletionRequestSchema } } },
    responses: rateLimitedAnswers({
      200: withOverhead({
        description: "The completion, or its chunks as `text/event-stream`.",
        content: { "application/json": chatCompletionSchema, "text/event-stream": z.string() },
        events: { message: z.union([chatCompletionChunkSchema, openAIStreamErrorSchema, z.literal("[DONE]")]) },
      }),
      202: json("Accepted (Prefer: respond-async).", chatCompletionSchema),
      ...submitErrors,
    }),
  }),
  getChat: route({
    method: "get",
    path: "/v1/chat/completions/{completionId}",
    summary: "A chat completion by id, finished or as it stands (`status`)",
    request: { params: completionIdParams },
    responses: { 200: json("The completion.", chatCompletionSchema), ...openAIErrors },
  }),
  text: route({
    method: "post",
    path: "/v1/completions",
    summary: "Create a (legacy) text completion",
    description: "`prompt` is a string or an array of strings; otherwise as chat completions.",
    request: { headers: preferHeader, body: { content: { "application/json": completionRequestSchema } } },
    responses: rateLimitedAnswers({
      200: withOverhead({
        description: "The completion, or its chunks as `text/event-stream`.",
        content: { "application/json": textCompletionSchema, "text/event-stream": z.string() },
        events: { message: z.union([textCompletionChunkSchema, openAIStreamErrorSchema, z.literal("[DONE]")]) },
      }),
      202: json("Accepted (Prefer: respond-async).", textCompletionSchema),
      ...submitErrors,
    }),
  }),
  getText: route({
    method: "get",
    path: "/v1/completions/{completionId}",
    summary: "A text completion by id, finished or as it stands (`status`)",
    request: { params: completionIdParams },
    responses: { 200: json("The completion.", textCompletionSchema), ...openAIErrors },
  }),
  models: route({
    method: "get",
    path: "/v1/models",
    summary: "Models (OpenAI list shape)",
    responses: { 200: json("Models.", modelListSchema), ...openAIErrors },
  }),
  model: route({
    method: "get",
    path: "/v1/models/{model+}",
    summary: "One model (ids may contain slashes)",
    request: {
      params: z.object({
        // Express gives the rest of the path as its segments; on the wire it is one string.
        model: z
          .array(z.string())
          .transform((parts) => parts.join("/"))
          .meta({ description: "A model id of `GET /v1/models`, slashes included.", override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
              jsonSchema.type = "string";
              delete jsonSchema.items;
            },
          }),
      }),
    },
    responses: { 200: json("The model.", modelSchema), ...openAIErrors },
  }),
};

/** What the OpenAI completion routes use, and nothing more. */
export type OpenAIDeps = Pick<AppDeps, "taskService" | "models" | "hub" | "log" | "streamGuard" | "redis" | "keys" | "tasks" | "idempotency" | "openStreams">;

/** The OpenAI-compatible API: `/v1/chat/completions`, `/v1/completions`, `/v1/models`. */
export function openAIRouter(deps: OpenAIDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1");
  const { taskService } = deps;
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  /** A stream or a synchronous wait holds a connection: it needs a slot before anything is written. */
  const holdUnlessAsync = async (req: Request, res: Response, stream: boolean) => {
    if (stream || !prefersAsync(req)) await deps.openStreams.hold(principalOf(req), res);
  };

  /** Answers a submitted task: 202 (async), a stream, or the finished object once it is final. */
  async function answer(req: Request, res: Response, task: TaskRecord, kind: "chat" | "text", stream: { on: boolean; includeUsage: boolean }) {
    const configs = task.configs as { n?: number; prompts?: string[]; echo?: boolean };
    const id = kind === "chat" ? chatCompletionId(task.id) : textCompletionId(task.id);
    res.set("x-task-id", task.id);
    const toObject = kind === "chat" ? chatCompletionObject : textCompletionObject;
    if (stream.on) {
      const n = configs.n ?? 1;
      const choices = (configs.prompts?.length ?? 1) * n;
      const echoPrompts = configs.echo ? Array.from({ length: choices }, (_, i) => configs.prompts?.[Math.floor(i / n)] ?? "") : undefined;
      return streamCompletion(req, res, task, deps, { kind, includeUsage: stream.includeUsage, choices, echoPrompts });
    }
    if (prefersAsync(req)) {
      res.status(202).set("Location", `/v1/${kind === "chat" ? "chat/completions" : "completions"}/${id}`);
      return res.json(toObject(task));
    }
    // No wait limit here: the SDK holds the request open, and so do we, while the client stays.
    markWaiting(res);
    const current = await taskService.awaitTask(principalOf(req), task, { signal: closeSignal(res) });
    if (!current) return;
    if (current.status !== "COMPLETED") throw unfinishedTaskError(current);
    markOverhead(res, current);
    res.json(toObject(current));
  }

  router.handle(openAIRoutes.chat, submissionLimit, async ({ body }, req, res) => {
    await holdUnlessAsync(req, res, body.stream === true);
    const { task, replayed } = await submitTask(deps, { caller: principalOf(req), input: chatTaskInput(body, { wholeAnswer: !prefersAsync(req) }), claim: idempotencyClaimOf(req) });
    if (replayed) res.set("Idempotent-Replayed", "true");
    await answer(req, res, task, "chat", { on: body.stream === true, includeUsage: body.stream_options?.include_usage === true });
  });

  router.handle(openAIRoutes.text, submissionLimit, async ({ body }, req, res) => {
    await holdUnlessAsync(req, res, body.stream === true);
    const { task, replayed } = await submitTask(deps, { caller: principalOf(req), input: completionTaskInput(body), claim: idempotencyClaimOf(req) });
    if (replayed) res.set("Idempotent-Replayed", "true");
    await answer(req, res, task, "text", { on: body.stream === true, includeUsage: body.stream_options?.include_usage === true });
  });

  /** Our extension: the completion by id, finished or as it stands (`status`). */
  const retrieve = (kind: "chat" | "text") => async ({ params }: { params: { completionId: string } }, req: Request, res: Response) => {
    const taskId = taskIdOfCompletionId(params.completionId);
    const notFound = () => new NotFoundError(`No completion with id '${params.completionId}'.`, { param: "completion_id", code: "completion_not_found" });
    if (!taskId) throw notFound();
    const task = await taskService.get(principalOf(req), taskId).catch(() => {
      throw notFound();
    });
    const object = kind === "chat" ? chatCompletionObject(task) : textCompletionObject(task);
    res.set("x-task-id", task.id).json(task.errorCode && isFinal(task.status) ? { ...object, error: { code: task.errorCode, message: task.errorMessage } } : object);
  };
  router.handle(openAIRoutes.getChat, retrieve("chat"));
  router.handle(openAIRoutes.getText, retrieve("text"));

  const modelObject = (model: AppDeps["models"]["models"][number]) => ({ id: model.id, object: "model" as const, created: LOADED_AT, owned_by: model.provider.name });
  router.handle(openAIRoutes.models, (_input, _req, res) => {
    res.json({ object: "list", data: deps.models.models.map(modelObject) });
  });
  // Model ids may hold slashes (`Qwen/Qwen2.5-72B-Instruct`): take the rest of the path.
  router.handle(openAIRoutes.model, ({ params }, _req, res) => {
    const id = params.model;
    const model = deps.models.byId.get(id);
    if (!model) throw new ModelNotFoundError(id, [...deps.models.byId.keys()]);
    res.json(modelObject(model));
  });

  return router;
}
