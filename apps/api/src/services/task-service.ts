import {
  type ChatMessage,
  ConflictError,
  type Logger,
  type ModelConfig,
  ModelNotFoundError,
  type ModelsConfig,
  NotFoundError,
  RateLimitError,
  type ServiceTier,
  type StoredWebhook,
  ServiceUnavailableError,
  type TaskInput,
  isFinal,
  isTaskId,
  newTaskId,
  prepareTask,
} from "@llmq/core";
import { type NewTask, type TaskRecord, type TaskRepository, type Viewer, taskOfFinished } from "@llmq/db";
import type { TaskTransitions } from "@llmq/engine";
import { type TaskEventHub, type TaskQueues, type TokenUsage, secondsUntilUtcMidnight } from "@llmq/queue";
import { type Quota, fairShareWeightOf } from "./limits";

export interface TaskServiceDeps {
  tasks: TaskRepository;
  /** The engine's task transitions: creating and cancelling go through them. */
  transitions: Pick<TaskTransitions, "create" | "cancel">;
  queues: Pick<TaskQueues, "interactiveWaiting">;
  hub: TaskEventHub;
  models: ModelsConfig;
  tokenUsage: TokenUsage;
  policy: SubmissionPolicy;
  /** How long after a cancel its readers wait for the cancelled attempt's output (see withKeptOutput); 0 = not at all. */
  cancelledOutputWaitMs: number;
  logger: Logger;
}

/** Deployment defaults for deadlines (0 = none); requests may override them. */
export interface SubmissionPolicy {
  queueTtlSeconds: number;
  timeoutSeconds: number;
}

/** Who submits: its key's and its user's limits apply (the admin key has none). */
export interface Submitter extends Viewer {
  keyId: string | null;
  quota?: Quota;
}

/** 429 `token_quota_exceeded`, retried after UTC midnight, when the day's tokens start again. */
export function tokenQuotaExceeded(message: string): RateLimitError {
  const retryAfterSeconds = secondsUntilUtcMidnight();
  return new RateLimitError(`${message} The quota renews in ${retryAfterSeconds} s (UTC midnight).`, { code: "token_quota_exceeded", retryAfterSeconds });
}

/**
 * How long a model queue's interactive depth, once read, answers admissions (plus this process's own
 * admissions since): `max_queue_depth` may then be passed by what other API processes admit meanwhile.
 * Up to QUEUE_DEPTH_STALE_MS it still answers while a fresh read is fetched for the next submit, unless
 * the queue is within a tenth of its limit (then the submit waits for the read): a lone submit to an idle
 * service does not wait for a round trip that cannot change its answer.
 */
const QUEUE_DEPTH_MAX_AGE_MS = 100;
const QUEUE_DEPTH_STALE_MS = 1_000;

/** A synchronous wait without a limit reads its task again at least this often. */
const WAIT_SLICE_MS = 60_000;

/** A queue's depth as last read, with this process's admissions since, and the read under way. */
interface QueueDepth {
  waiting: number;
  readAt: number;
  reading: Promise<number> | null;
}

/** Creating, reading, cancelling and awaiting tasks: what routes of both dialects share. */
export class TaskService {
  private readonly depths = new Map<string, QueueDepth>();

  constructor(private readonly deps: TaskServiceDeps) {}

  /**
   * Checks the request against its model (see prepareTask), commits the task row, then enqueues its job
   * (job id = task id). `id` is given when it was chosen beforehand (Idempotency-Key).
   */
  async submit(owner: Submitter, input: TaskInput, options: { webhook?: StoredWebhook | null; id?: string } = {}): Promise<TaskRecord> {
    const { model, messages, configs, endpoint, tier } = prepareTask(this.deps.models, input);
    await this.admit(owner, model);
    return this.commit(owner, {
      ...this.deadlines(input.deadlines),
      id: options.id ?? newTaskId(),
      ownerId: owner.userId,
      apiKeyId: owner.keyId,
      model: model.id,
      endpoint,
      queueName: model.queueName,
      messages,
      configs,
      tier: tier ?? "default",
      webhook: options.webhook ?? null,
    });
  }

  /**
   * Runs a finished task again as a NEW task: same owner, model, messages and configs, same dialect
   * (the old task is left as it is), the deployment's default deadlines. Only final tasks: a pending or
   * running one is 409 `task_not_final`.
   */
  async retry(viewer: Submitter, taskId: string): Promise<TaskRecord> {
    const task = await this.get(viewer, taskId);
    if (!isFinal(task.status)) throw new ConflictError(`Task ${task.id} is ${task.status}: only a finished task can be retried.`, { param: "task_id", code: "task_not_final" });
    const model = this.deps.models.byId.get(task.model);
    if (!model) throw new ModelNotFoundError(task.model, [...this.deps.models.byId.keys()], "model");
    await this.admit(viewer, model);
    return this.commit(viewer, {
      ...this.deadlines(),
      id: newTaskId(),
      ownerId: task.ownerId,
      apiKeyId: viewer.keyId,
      model: model.id,
      endpoint: task.endpoint,
      queueName: model.queueName,
      messages: task.messages as unknown as ChatMessage[],
      configs: task.configs as Record<string, unknown>,
      tier: task.tier as ServiceTier,
    });
  }

  /** A new task's queue deadline and run timeout: the caller's, else the deployment's (0 = none). */
  private deadlines(asked: TaskInput["deadlines"] = {}): Pick<NewTask, "expiresAt" | "runTimeoutMs"> {
    const queueTtlSeconds = asked.queueTtlSeconds ?? this.deps.policy.queueTtlSeconds;
    const timeoutSeconds = asked.timeoutSeconds ?? this.deps.policy.timeoutSeconds;
    return {
      expiresAt: queueTtlSeconds > 0 ? new Date(Date.now() + queueTtlSeconds * 1000) : null,
      runTimeoutMs: timeoutSeconds > 0 ? timeoutSeconds * 1000 : null,
    };
  }

  /**
   * Commits the row, then enqueues it on its model's run queue (the engine's `create`) with the weight of
   * the submitter's key or user, known from the authentication (no query); a failed enqueue withdraws the
   * row and answers 503.
   */
  private async commit(owner: Submitter, row: NewTask): Promise<TaskRecord> {
    const task = await this.deps.transitions.create(row, { weight: fairShareWeightOf(owner.quota) });
    const depth = this.depths.get(task.queueName);
    if (depth) depth.waiting += 1;
    return task;
  }

  /**
   * Interactive tasks waiting in a model's queue: read at most every QUEUE_DEPTH_MAX_AGE_MS (one read for
   * all the admissions of that time), counting this process's admissions since the read.
   */
  private async waitingIn(queueName: string, max: number): Promise<number> {
    let depth = this.depths.get(queueName);
    if (!depth) {
      depth = { waiting: 0, readAt: 0, reading: null };
      this.depths.set(queueName, depth);
    }
    const age = Date.now() - depth.readAt;
    if (age <= QUEUE_DEPTH_MAX_AGE_MS) return depth.waiting;
    if (age <= QUEUE_DEPTH_STALE_MS && depth.waiting < max * 0.9) {
      this.readDepth(queueName, depth).catch(() => undefined);
      return depth.waiting;
    }
    return this.readDepth(queueName, depth);
  }

  /** Reads a queue's interactive depth into `entry` (one read at a time per queue). */
  private readDepth(queueName: string, entry: QueueDepth): Promise<number> {
    entry.reading ??= this.deps.queues.interactiveWaiting(queueName).then(
      (waiting) => {
        Object.assign(entry, { waiting, readAt: Date.now(), reading: null });
        return waiting;
      },
      (error: unknown) => {
        entry.reading = null;
        throw error;
      },
    );
    return entry.reading;
  }

  /**
   * Backpressure and quotas, before anything is written: a model queue already holding its
   * `max_queue_depth` interactive tasks answers 503; a caller whose key or user is at its concurrent-task
   * or daily-token quota, 429. Both with Retry-After, in the caller's dialect.
   */
  private async admit(owner: Submitter, model: ModelConfig): Promise<void> {
    const waiting = await this.waitingIn(model.queueName, model.maxQueueDepth);
    if (waiting >= model.maxQueueDepth) {
      throw new ServiceUnavailableError(`The queue of model ${model.id} is full (${waiting} tasks waiting); retry shortly.`, { code: "queue_full", retryAfterSeconds: 5 });
    }
    const quota = owner.quota;
    if (!quota) return;
    const keyMax = quota.key?.maxConcurrentTasks ?? 0;
    const userMax = quota.user.maxConcurrentTasks;
    if (keyMax > 0 || userMax > 0) {
      const open = await this.deps.tasks.openTaskCounts(owner.userId, owner.keyId);
      const refuse = (whose: string, max: number) =>
        new RateLimitError(`${whose} already has ${max} tasks pending or running, its limit; retry when one finishes.`, { code: "concurrency_limit_exceeded", retryAfterSeconds: 1 });
      if (keyMax > 0 && open.key >= keyMax) throw refuse("This key", keyMax);
      if (userMax > 0 && open.user >= userMax) throw refuse("This user (all its keys and sessions)", userMax);
    }
    await this.checkTokenQuota(owner);
  }

  /** 429 once the caller's key or user has used its tokens for the UTC day (batches check it too). */
  async checkTokenQuota(owner: Submitter): Promise<void> {
    const quota = owner.quota;
    const keyMax = quota?.key?.tokensPerDay ?? 0;
    const userMax = quota?.user.tokensPerDay ?? 0;
    if (keyMax <= 0 && userMax <= 0) return;
    const used = await this.deps.tokenUsage.usedToday({ userId: owner.userId, keyId: owner.keyId });
    if (keyMax > 0 && (used.key ?? 0) >= keyMax) throw tokenQuotaExceeded(`This key has used its ${keyMax} tokens for today (UTC).`);
    if (userMax > 0 && used.user >= userMax) throw tokenQuotaExceeded(`This user (all its keys and sessions) has used its ${userMax} tokens for today (UTC).`);
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
    if (!isFinal(task.status)) await this.deps.transitions.cancel(task);
    return this.get(viewer, taskId);
  }

  /** How long after a cancel its readers wait for the cancelled attempt's output. */
  get cancelledOutputWaitMs(): number {
    return this.deps.cancelledOutputWaitMs;
  }

  /**
   * How long from now a reader of `task` should still wait for its cancelled attempt's output: a task
   * cancelled after an attempt started, whose cancel is less than `cancelledOutputWaitMs` old and whose
   * row has not changed since (the cancel writes `completed_at` and `updated_at` alike; the worker's
   * keep moves `updated_at` on); 0 for any other.
   */
  cancelledOutputWaitLeft(task: Pick<TaskRecord, "status" | "attempts" | "completedAt" | "updatedAt">): number {
    if (task.status !== "CANCELLED" || task.attempts === 0 || !task.completedAt) return 0;
    if (task.updatedAt.getTime() > task.completedAt.getTime()) return 0;
    return Math.max(0, task.completedAt.getTime() + this.deps.cancelledOutputWaitMs - Date.now());
  }

  /**
   * A task cancelled while an attempt ran, as its row stands once the attempt's worker has recorded what
   * it generated (text, usage): waits for the task's `output_kept` event, until `cancelledOutputWaitMs`
   * after the cancel at most (a worker that is gone never sends it), then reads the row again. Any other
   * task (not cancelled, cancelled while queued, cancelled long ago) is answered as it is, at once. Reads
   * the task's event stream once, then hears its messages; Postgres only at the end.
   */
  async withKeptOutput(viewer: Viewer, task: TaskRecord): Promise<TaskRecord> {
    const waitMs = this.cancelledOutputWaitLeft(task);
    if (waitMs === 0) return task;
    await new Promise<void>((resolve) => {
      let settled = false;
      let unsubscribe: (() => void) | null = null;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unsubscribe?.();
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      unsubscribe = this.deps.hub.subscribe(
        task.id,
        "0",
        (entries) => {
          // Kept; or it ended with nothing left to keep (cancelled while queued for a retry).
          if (entries.some(({ event }) => event.type === "output_kept" || (event.type === "final" && event.outputPending !== true))) done();
        },
        done,
      );
    });
    return this.get(viewer, task.id);
  }

  /**
   * The synchronous wait of both dialects: holds until the task reaches a final state, `timeoutMs`
   * passes (undefined: no limit, as OpenAI clients expect), or `signal` aborts (the client left), then
   * answers the task as it stands (null once the client has left). Listens for the task's final event
   * only (no token is read); its row is read once subscribed, so a task that ended before then is seen
   * too, and again every WAIT_SLICE_MS in case a final was never announced. A completion's final message
   * carries the row as it committed it (less the request, which `task`, the submitted row, holds): the
   * answer is made from that, without reading the row again; any other end is read from the row.
   */
  async awaitTask(viewer: Viewer, task: Pick<TaskRecord, "id" | "messages" | "configs">, options: { timeoutMs?: number; signal: AbortSignal }): Promise<TaskRecord | null> {
    const taskId = task.id;
    const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
    for (;;) {
      const ended = await this.deps.hub.waitForFinal(taskId, {
        timeoutMs: Math.max(0, Math.min(deadline - Date.now(), WAIT_SLICE_MS)),
        signal: options.signal,
        isFinal: async () => {
          const row = await this.deps.tasks.findById(taskId);
          return !row || isFinal(row.status);
        },
      });
      if (options.signal.aborted) return null;
      const announced = ended ? taskOfFinished(ended.task, task) : null;
      // The same visibility as a read (findVisible): the owner, or the admin.
      if (announced && isFinal(announced.status) && (viewer.isAdmin || announced.ownerId === viewer.userId)) return announced;
      const current = await this.get(viewer, taskId);
      if (isFinal(current.status) || Date.now() >= deadline) return current;
    }
  }
}
