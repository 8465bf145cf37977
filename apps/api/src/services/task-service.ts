import {
  type ChatMessage,
  ConflictError,
  type Logger,
  ModelNotFoundError,
  type ModelsConfig,
  NotFoundError,
  ServiceUnavailableError,
  type TaskInput,
  isFinal,
  isTaskId,
  newTaskId,
  prepareTask,
} from "@llmq/core";
import type { NewTask, TaskRecord, TaskRepository, Viewer } from "@llmq/db";
import { type KeySpace, type RedisConnection, type TaskEventHub, type TaskEventLog, type TaskQueues, type TaskUpdates, publishCancel } from "@llmq/queue";

export interface TaskServiceDeps {
  tasks: TaskRepository;
  queues: TaskQueues;
  log: TaskEventLog;
  hub: TaskEventHub;
  /** Announces created and cancelled tasks to live task lists. */
  updates: TaskUpdates;
  models: ModelsConfig;
  redis: RedisConnection;
  keys: KeySpace;
  logger: Logger;
}

/** Creating, reading, cancelling and awaiting tasks: what routes of both dialects share. */
export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /** Checks the request against its model (see prepareTask), commits the task row, then enqueues its job (job id = task id). */
  async submit(owner: Viewer, input: TaskInput): Promise<TaskRecord> {
    const { model, messages, configs, endpoint } = prepareTask(this.deps.models, input);
    return this.commit({ id: newTaskId(), ownerId: owner.userId, model: model.id, endpoint, queueName: model.queueName, messages, configs });
  }

  /**
   * Runs a finished task again as a NEW task: same owner, model, messages and configs, same dialect
   * (the old task is left as it is). Only final tasks: a pending or running one is 409 `task_not_final`.
   */
  async retry(viewer: Viewer, taskId: string): Promise<TaskRecord> {
    const task = await this.get(viewer, taskId);
    if (!isFinal(task.status)) throw new ConflictError(`Task ${task.id} is ${task.status}: only a finished task can be retried.`, { param: "task_id", code: "task_not_final" });
    const model = this.deps.models.byId.get(task.model);
    if (!model) throw new ModelNotFoundError(task.model, [...this.deps.models.byId.keys()], "model");
    return this.commit({
      id: newTaskId(),
      ownerId: task.ownerId,
      model: model.id,
      endpoint: task.endpoint,
      queueName: model.queueName,
      messages: task.messages as unknown as ChatMessage[],
      configs: task.configs as Record<string, unknown>,
    });
  }

  /** Commits the row, then enqueues its job; a failed enqueue withdraws the row and answers 503. */
  private async commit(row: NewTask): Promise<TaskRecord> {
    const task = await this.deps.tasks.create(row);
    try {
      // The PENDING event first, so a replay reads the task's history in order.
      await this.deps.log.append(task.id, [{ type: "status", status: "PENDING", attempt: 0 }]);
      await this.deps.queues.enqueue(task.queueName, task.id);
    } catch (error) {
      // Not acknowledged to the client, so not kept: the client retries after the 503. If the job did
      // reach Redis, its worker finds no row and does nothing.
      this.deps.logger.warn({ err: error, taskId: task.id }, "enqueue failed; task withdrawn");
      await this.deps.tasks.withdraw(task.id).catch(() => undefined);
      throw new ServiceUnavailableError("The queue is unavailable; the task was not accepted. Retry shortly.", { retryAfterSeconds: 2, cause: error });
    }
    void this.deps.updates.publish([{ taskId: task.id, ownerId: task.ownerId }]);
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
        this.deps.updates.publish([{ taskId: task.id, ownerId: task.ownerId }]),
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
