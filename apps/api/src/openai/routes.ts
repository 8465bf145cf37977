import { ModelNotFoundError, NotFoundError, chatCompletionRequestSchema, chatTaskInput, completionRequestSchema, completionTaskInput, isFinal } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import { type Request, type Response, Router } from "express";
import type { AppDeps } from "../deps";
import { closeSignal } from "../http/close-signal";
import { prefersAsync } from "../http/prefer";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { validate } from "../http/validate";
import { chatCompletionId, chatCompletionObject, taskIdOfCompletionId, textCompletionId, textCompletionObject } from "./format";
import { markOverhead, markWaiting } from "../observability/overhead";
import { streamCompletion } from "./stream";
import { submitTask } from "../services/submit-task";
import { unfinishedTaskError } from "./task-errors";

/** Models are listed with the time this process loaded them (OpenAI's `created`). */
const LOADED_AT = Math.floor(Date.now() / 1000);

/** The OpenAI-compatible API: `/v1/chat/completions`, `/v1/completions`, `/v1/models`. */
export function openAIRouter(deps: AppDeps): Router {
  const router = Router();
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
    const current = await taskService.awaitTask(principalOf(req), task.id, { signal: closeSignal(res) });
    if (!current) return;
    if (current.status !== "COMPLETED") throw unfinishedTaskError(current);
    markOverhead(res, current);
    res.json(toObject(current));
  }

  router.post("/chat/completions", submissionLimit, async (req, res) => {
    const body = validate(chatCompletionRequestSchema, req.body ?? {});
    await holdUnlessAsync(req, res, body.stream === true);
    const task = await submitTask(req, res, deps, chatTaskInput(body));
    await answer(req, res, task, "chat", { on: body.stream === true, includeUsage: body.stream_options?.include_usage === true });
  });

  router.post("/completions", submissionLimit, async (req, res) => {
    const body = validate(completionRequestSchema, req.body ?? {});
    await holdUnlessAsync(req, res, body.stream === true);
    const task = await submitTask(req, res, deps, completionTaskInput(body));
    await answer(req, res, task, "text", { on: body.stream === true, includeUsage: body.stream_options?.include_usage === true });
  });

  /** Our extension: the completion by id, finished or as it stands (`status`). */
  const retrieve = (kind: "chat" | "text") => async (req: Request<{ completionId: string }>, res: Response) => {
    const taskId = taskIdOfCompletionId(req.params.completionId);
    const notFound = () => new NotFoundError(`No completion with id '${req.params.completionId}'.`, { param: "completion_id", code: "completion_not_found" });
    if (!taskId) throw notFound();
    const task = await taskService.get(principalOf(req), taskId).catch(() => {
      throw notFound();
    });
    const object = kind === "chat" ? chatCompletionObject(task) : textCompletionObject(task);
    res.set("x-task-id", task.id).json(task.errorCode && isFinal(task.status) ? { ...object, error: { code: task.errorCode, message: task.errorMessage } } : object);
  };
  router.get("/chat/completions/:completionId", retrieve("chat"));
  router.get("/completions/:completionId", retrieve("text"));

  const modelObject = (model: AppDeps["models"]["models"][number]) => ({ id: model.id, object: "model" as const, created: LOADED_AT, owned_by: model.provider.name });
  router.get("/models", (_req, res) => {
    res.json({ object: "list", data: deps.models.models.map(modelObject) });
  });
  // Model ids may hold slashes (`Qwen/Qwen2.5-72B-Instruct`): take the rest of the path.
  router.get("/models/*model", (req: Request<{ model: string[] }>, res) => {
    const id = req.params.model.join("/");
    const model = deps.models.byId.get(id);
    if (!model) throw new ModelNotFoundError(id, [...deps.models.byId.keys()]);
    res.json(modelObject(model));
  });

  return router;
}
