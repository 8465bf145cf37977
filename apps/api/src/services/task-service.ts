import {
  type ChatMessage,
  type Logger,
  ModelNotFoundError,
  type ModelsConfig,
  NotFoundError,
  ServiceUnavailableError,
  type StoredConfigs,
  ValidationError,
  unsupportedField,
  isFinal,
  isTaskId,
  newTaskId,
} from "@llmq/core";
import type { TaskRecord, TaskRepository, Viewer } from "@llmq/db";
import { type KeySpace, type RedisConnection, type TaskEventHub, type TaskEventLog, type TaskQueues, publishCancel } from "@llmq/queue";

export interface TaskServiceDeps {
  tasks: TaskRepository;
  queues: TaskQueues;
  log: TaskEventLog;
  hub: TaskEventHub;
  models: ModelsConfig;
  redis: RedisConnection;
  keys: KeySpace;
  logger: Logger;
}

/** A task as a route hands it over, whichever dialect it speaks. */
export interface TaskInput {
  endpoint: "task" | "chat.completion" | "text_completion";
  model: string;
  messages: ChatMessage[];
  /** Without `max_tokens` the model's own cap applies. */
  configs: Omit<StoredConfigs, "model" | "max_tokens" | "n"> & { max_tokens?: number; n?: number };
  /** How the caller's dialect names these fields, for errors. */
  fieldNames: { model: string; maxTokens: string };
}

/** Creating, reading, cancelling and awaiting tasks: what routes of both dialects share. */
export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /**
   * Checks the model and what its provider can honour, commits the task row, then enqueues its job
   * (job id = task id). Error `param`s use the caller's field names.
   */
  async submit(owner: Viewer, input: TaskInput): Promise<TaskRecord> {
    const model = this.deps.models.byId.get(input.model);
    if (!model) throw new ModelNotFoundError(input.model, [...this.deps.models.byId.keys()], input.fieldNames.model);
    const maxTokens = input.configs.max_tokens ?? model.maxTokens;
    if (maxTokens > model.maxTokens) {
      throw new ValidationError(`${input.fieldNames.maxTokens}: at most ${model.maxTokens} for model ${model.id}`, { param: input.fieldNames.maxTokens });
    }
    const unsupported = unsupportedField(model.provider, input.configs.passthrough ?? {});
    if (unsupported) {
      throw new ValidationError(`${unsupported.field}: ${unsupported.reason} (model ${model.id})`, { param: unsupported.field, code: "unsupported_parameter" });
    }
    const configs: StoredConfigs = {
      ...input.configs,
      model: model.id,
      max_tokens: maxTokens,
      ...(input.configs.max_tokens === undefined ? { max_tokens_is_cap: true } : {}),
      n: input.configs.n ?? 1,
    };
    const task = await this.deps.tasks.create({
      id: newTaskId(),
      ownerId: owner.userId,
      model: model.id,
      endpoint: input.endpoint,
      queueName: model.queueName,
      messages: input.messages,
      configs,
    });
    try {
      // The PENDING event first, so a replay reads the task's history in order.
      await this.deps.log.append(task.id, [{ type: "status", status: "PENDING", attempt: 0 }]);
      await this.deps.queues.enqueue(model.queueName, task.id);
    } catch (error) {
      // Not acknowledged to the client, so not kept: the client retries after the 503. If the job did
      // reach Redis, its worker finds no row and does nothing.
      this.deps.logger.warn({ err: error, taskId: task.id }, "enqueue failed; task withdrawn");
      await this.deps.tasks.withdraw(task.id).catch(() => undefined);
      throw new ServiceUnavailableError("The queue is unavailable; the task was not accepted. Retry shortly.", { retryAfterSeconds: 2, cause: error });
    }
    return task;
  }

  /** The task if `viewer` may see it; 404 otherwise (never 403: existence is not confirmed). */
  async get(viewer: Viewer, taskId: string): Promise<TaskRecord> {
    const task = isTaskId(taskId) ? await this.deps.tasks.findVisible(taskId, viewer) : null;
    if (!task) throw new NotFoundError(`No task with id '${taskId}'.`, { param: "task_id", code: "task_not_found" });
    return task;
  }

  /** Cancels a PENDING or RUNNING task; a final task is returned unchanged. */
  async cancel(viewer: Viewer, taskId: string): Promise<TaskRecord> {
    const task = await this.get(viewer, taskId);
    const previous = await this.deps.tasks.cancel(task.id);
    if (previous) {
      await Promise.all([
        publishCancel(this.deps.redis, this.deps.keys, task.id),
        this.deps.log.append(task.id, [
          { type: "status", status: "CANCELLED", attempt: task.attempts },
          { type: "final", status: "CANCELLED" },
        ]),
        previous === "PENDING" ? this.deps.queues.removeWaiting(task.queueName, task.id) : Promise.resolve(),
      ]);
    }
    return this.get(viewer, taskId);
  }

  /** Resolves when the task reaches a final state, `timeoutMs` passes, or `signal` aborts (client gone). */
  async waitForFinal(taskId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const current = await this.deps.tasks.findById(taskId);
    if (!current || isFinal(current.status)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      const unsubscribe = this.deps.hub.subscribe(
        taskId,
        "0",
        (entries) => {
          if (entries.some((entry) => entry.event.type === "final")) done();
        },
        (error) => {
          this.deps.logger.warn({ err: error, taskId }, "event stream read failed while waiting");
          done();
        },
      );
    });
  }
}
