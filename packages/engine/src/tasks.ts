import { type Logger, type PreparedTask, ServiceUnavailableError, type TaskStatus, taskTokenBudget } from "@llmq/core";
import {
  type AttemptStart,
  type BatchTask,
  type ChangedTask,
  type CompletionUpdate,
  type FinishedTask,
  type NewTask,
  type ProgressUpdate,
  type ServedBy,
  type StartedAttempt,
  type TaskOutcome,
  type TaskProgress,
  type TaskRecord,
  type TaskRepository,
  finishedTaskJson,
  isDatabaseUnavailable,
} from "@llmq/db";
import { MAX_REQUEST_COPY_BYTES, type QueuedTask, type RequestCopy, type ServiceTier, type TaskEvent, type TaskQueues, isRedisUnavailable } from "@llmq/queue";
import type { EngineBus, TaskRef } from "./bus";
import type { EventWriter } from "./event-writer";
import { TickBatch } from "./tick-batch";

export interface TaskTransitionsDeps {
  tasks: TaskRepository;
  queues: TaskQueues;
  events: EventWriter;
  bus: EngineBus;
  logger: Logger;
}

/** A task's reference as listeners get it, from any row or statement result that has the fields. */
export function refOf(task: Pick<TaskRecord, "id" | "ownerId" | "batchId" | "apiKeyId" | "queueName" | "webhook"> | ChangedTask): TaskRef {
  return { id: task.id, ownerId: task.ownerId, batchId: task.batchId, apiKeyId: task.apiKeyId, queueName: task.queueName, webhook: task.webhook };
}

/** What a worker needs to run an attempt, with the reference its later transitions take. */
export interface Attempt extends StartedAttempt {
  ref: TaskRef;
}

/** The outcome of asking to start an attempt: run it, or not (finished, cancelled, or expired just now). */
export type StartResult = { kind: "started"; attempt: Attempt } | { kind: "expired" } | { kind: "not_runnable" };

/**
 * The copy of a small request its job carries (see requestCopySchema), so the worker calls the upstream
 * while the attempt's start commits; none for a large one.
 */
function requestCopyOf(task: TaskRecord): RequestCopy | undefined {
  const copy = { model: task.model, messages: task.messages as unknown[], configs: task.configs as Record<string, unknown>, runTimeoutMs: task.runTimeoutMs };
  return Buffer.byteLength(JSON.stringify(copy)) <= MAX_REQUEST_COPY_BYTES ? copy : undefined;
}

/** What a task's run-queue entry is built from: any row, insert or record that has these fields. */
export type EnqueueableTask = {
  id: string;
  queueName: string;
  ownerId: string;
  apiKeyId?: string | null;
  messages: unknown;
  configs: unknown;
  expiresAt?: Date | null;
  /** The stored tier (`service_tier`); absent: `default` (batch items are stored `flex`). */
  tier?: string | null;
  /** The task's batch, if it is a batch's item: its entry is then counted apart from interactive work. */
  batchId?: string | null;
};

/** Who shares a model's dispatches fairly: the API key, else the user (sessions and tokens count as the user). */
export function tenantOf(task: { ownerId: string; apiKeyId?: string | null }): string {
  return task.apiKeyId ?? `u:${task.ownerId}`;
}

/**
 * A task's entry in its model's run queue. `tier`: the task's stored tier (the caller's `service_tier`;
 * batch items are stored `flex` unless their line asks otherwise), `default` when it has none; `weight`:
 * the submitting key's `fair_share_weight` (else its user's, else 1), absent when the caller does not know
 * it (the run queue then keeps the tenant's last). The estimate is the task's token budget (every upstream
 * call's prompt estimate + max_tokens).
 */
export function queuedTaskOf(task: EnqueueableTask, options: { weight?: number; request?: RequestCopy } = {}): QueuedTask {
  let estimatedTokens = 1;
  try {
    estimatedTokens = taskTokenBudget(task as unknown as Pick<PreparedTask, "messages" | "configs">);
  } catch {
    // A stored request whose configs cannot be read: charged as one token; the worker fails it at start.
  }
  return {
    id: task.id,
    queueName: task.queueName,
    tenant: tenantOf(task),
    ...(options.weight === undefined ? {} : { weight: options.weight }),
    // The column holds one of the three (a CHECK); a NewTask without one is `default`, as its row will be.
    tier: (task.tier ?? "default") as ServiceTier,
    estimatedTokens: Number.isFinite(estimatedTokens) ? estimatedTokens : 1,
    queueDeadline: task.expiresAt ? task.expiresAt.getTime() : null,
    ...(options.request ? { request: options.request } : {}),
    ...(task.batchId ? { batch: true } : {}),
  };
}

/** A new task with what its run-queue entry needs beyond the row: its tenant's fair-share weight (see queuedTaskOf). */
interface NewQueuedTask {
  row: NewTask;
  weight: number | undefined;
}

/** A failure every item of a batched statement would meet alone too: no use retrying them one by one. */
const sharedFailure = (error: unknown) => error instanceof ServiceUnavailableError || isDatabaseUnavailable(error) || isRedisUnavailable(error);

/** Statements of one tick must not name a task twice (one row, two answers): such a batch runs item by item. */
function assertDistinct(ids: readonly string[]): void {
  if (new Set(ids).size !== ids.length) throw new Error("a task appears twice in one batch");
}

/** Bus events sent per event-loop turn when a batch's items close together. */
const EMITS_PER_TURN = 1_000;

const ending = (status: TaskStatus, attempt: number, error?: { code: string; message: string }, outputPending = false): TaskEvent[] => [
  { type: "status", status, attempt, ...(error ? { error } : {}) },
  { type: "final", status, ...(outputPending ? { outputPending: true as const } : {}) },
];

/**
 * Every change of a task's state: the conditional update (statuses from core's transition table, later
 * writes fenced by the attempt), then, together, the events appended to the task's stream and a typed event
 * on the bus; the call returns once both are done. Nothing else in the code base changes a task's status.
 */
export class TaskTransitions {
  private readonly creates: TickBatch<NewQueuedTask, TaskRecord>;
  private readonly starts: TickBatch<AttemptStart, StartedAttempt | ChangedTask | null>;
  private readonly checkpoints: TickBatch<ProgressUpdate, boolean>;
  private readonly completions: TickBatch<CompletionUpdate, FinishedTask | null>;

  constructor(private readonly deps: TaskTransitionsDeps) {
    this.creates = new TickBatch({ runMany: (rows) => this.createMany(rows), sharedFailure });
    this.starts = new TickBatch({ runMany: (starts) => this.startMany(starts), sharedFailure });
    this.checkpoints = new TickBatch({
      runMany: async (updates) => {
        assertDistinct(updates.map((update) => update.id));
        const updated = await this.deps.tasks.checkpointMany(updates);
        return updates.map((update) => updated.has(update.id));
      },
      sharedFailure,
    });
    this.completions = new TickBatch({
      runMany: async (updates) => {
        assertDistinct(updates.map((update) => update.id));
        const updated = await this.deps.tasks.completeMany(updates);
        return updates.map((update) => updated.get(update.id) ?? null);
      },
      sharedFailure,
    });
  }

  /**
   * Created: the row is committed and its job enqueued (job id = task id), both before the caller hears
   * of it; its event stream waits for its first event after PENDING. The submits of one tick are written
   * together: one INSERT, one round trip for their jobs, one live-list publish.
   */
  create(row: NewTask, entry: { weight?: number } = {}): Promise<TaskRecord> {
    return this.creates.run({ row, weight: entry.weight });
  }

  /**
   * One tick's creates. An enqueue that fails withdraws the rows and answers 503 to every caller, so an
   * unacknowledged task is never kept; a bad row fails the INSERT, and the tick's rows go again one by one.
   */
  private async createMany(items: NewQueuedTask[]): Promise<TaskRecord[]> {
    const rows = items.map((item) => item.row);
    const weights = new Map(items.map((item) => [item.row.id, item.weight]));
    const created = rows.length === 1 ? [await this.deps.tasks.create(rows[0]!)] : await this.deps.tasks.createMany(rows);
    try {
      // No event stream is opened: a task's first event after PENDING (RUNNING, or its end) opens it, and
      // the API's task relay shows a follower from the start PENDING first. A waiting task so costs Redis
      // its run-queue entry alone, and the submit one command less.
      await this.deps.queues.enqueueMany(created.map((task) => queuedTaskOf(task, { weight: weights.get(task.id), request: requestCopyOf(task) })));
    } catch (error) {
      // Not acknowledged to the client, so not kept: the client retries after the 503. If a job did
      // reach Redis, its worker finds no row and does nothing.
      this.deps.logger.warn({ err: error, tasks: created.length }, "enqueue failed; tasks withdrawn");
      await this.deps.tasks.withdrawMany(created.map((task) => task.id)).catch(() => undefined);
      throw new ServiceUnavailableError("The queue is unavailable; the task was not accepted. Retry shortly.", { retryAfterSeconds: 2, cause: error });
    }
    await this.deps.bus.emit("task.created", { tasks: created.map(refOf) });
    return created;
  }

  /**
   * Created, for the tasks of a batch: rows committed (ids derived from the batch and line, so a rerun
   * inserts nothing twice), without event streams (see below). Their jobs are enqueued separately
   * (enqueueBatch), once the batch may run.
   */
  async createForBatch(batchId: string, rows: readonly BatchTask[]): Promise<void> {
    // As for every task (createMany), no event stream is opened: the item's first event after PENDING does.
    await this.deps.tasks.createBatchTasks(batchId, rows);
    await this.deps.bus.emit("task.created", { tasks: rows.map((row) => refOf({ ...row, batchId, apiKeyId: row.apiKeyId ?? null, webhook: null })) });
  }

  /**
   * The run-queue entries of committed batch tasks, each at its row's tier (`flex` unless its line asked
   * otherwise: passed by newer interactive work of the same tenant for at most the aging delay) and the
   * tenant's `weight` when the caller knows it; one lost here is enqueued again by the sweeper.
   */
  async enqueueBatch(rows: readonly EnqueueableTask[], entry: { weight?: number } = {}): Promise<void> {
    await this.deps.queues.enqueueMany(rows.map((row) => ({ ...queuedTaskOf({ ...row, tier: row.tier ?? "flex" }, entry), batch: true })));
  }

  /**
   * A task its run queue does not know goes back in (the sweeper), at its row's tier, with the request copy
   * a new task would carry (batch items carry none); its tenant keeps the weight the run queue knows.
   */
  async requeue(task: TaskRecord): Promise<void> {
    await this.deps.queues.enqueueMany([queuedTaskOf(task, { request: task.batchId ? undefined : requestCopyOf(task) })]);
  }

  /**
   * Started: PENDING or RUNNING (a crashed or retried attempt) -> RUNNING with a new attempt number, which
   * fences every later write of the attempt. A task never started and past its queue deadline expires
   * here instead. `withRequest: false` when the worker has the request already (its job's copy): the
   * attempt then comes back without messages and configs, which Postgres need not read out.
   * `heldEvents` is called once the attempt has committed, with its number: events the caller made before
   * it was known (an upstream's first tokens), written right after the RUNNING event in the same append.
   */
  async start(
    taskId: string,
    options: { startedAt?: Date; withRequest?: boolean; heldEvents?: (attempt: number) => readonly TaskEvent[] } = {},
  ): Promise<StartResult> {
    const outcome = await this.starts.run({ id: taskId, startedAt: options.startedAt ?? new Date(), withRequest: options.withRequest ?? true });
    if (!outcome) return { kind: "not_runnable" };
    if (!("attempt" in outcome)) return { kind: "expired" };
    const started = outcome;
    const ref = refOf({ id: taskId, attempts: started.attempt, ...started });
    // Neither is awaited: the writer keeps each task's events in order, so the attempt's tokens follow its
    // RUNNING event, and the attempt's upstream request need not wait for a live-list publish.
    this.deps.events.pushQuietly(taskId, [{ type: "status", status: "RUNNING", attempt: started.attempt }, ...(options.heldEvents?.(started.attempt) ?? [])]);
    this.deps.bus.announce("task.started", { task: ref, attempt: started.attempt });
    return { kind: "started", attempt: { ...started, ref } };
  }

  /**
   * One tick's starts in one statement. Tasks that did not start are either past their queue deadline
   * (they expire here, in one more statement) or may not run (final or cancelled): null.
   */
  private async startMany(starts: AttemptStart[]): Promise<(StartedAttempt | ChangedTask | null)[]> {
    const ids = starts.map((start) => start.id);
    assertDistinct(ids);
    const started = new Map((await this.deps.tasks.startAttempts(starts)).map(({ id, ...row }) => [id, row]));
    const rest = ids.filter((id) => !started.has(id));
    const expired = new Map((rest.length > 0 ? await this.deps.tasks.expireUnstarted(rest) : []).map((task) => [task.id, task]));
    await this.expired([...expired.values()]);
    return ids.map((id) => started.get(id) ?? expired.get(id) ?? null);
  }

  /** Progressed: the running attempt's text and percent are saved; false when the attempt was fenced off or the task left RUNNING. */
  async checkpoint(task: TaskRef, attempt: number, progress: TaskProgress): Promise<boolean> {
    if (!(await this.checkpoints.run({ id: task.id, attempt, ...progress }))) return false;
    this.deps.bus.announce("task.progressed", { task, attempt, percent: progress.percent });
    return true;
  }

  /**
   * Completed, for this attempt only; false when another attempt or a cancel got there first. The final
   * event carries the row as the completion committed it to the task's waiters (TaskEventAppend.finishedTask):
   * a synchronous request answers from it instead of reading the row again.
   */
  async complete(task: TaskRef, attempt: number, outcome: TaskOutcome): Promise<boolean> {
    const finished = await this.completions.run({ id: task.id, attempt, completedAt: new Date(), ...outcome });
    if (!finished) return false;
    await Promise.all([
      this.appendQuietly(task.id, ending("COMPLETED", attempt), { finishedTask: finishedTaskJson(finished) }),
      this.deps.bus.emit("task.completed", { task, attempt, usage: { promptTokens: outcome.promptTokens ?? 0, completionTokens: outcome.completionTokens } }),
    ]);
    return true;
  }

  /** Failed, for this attempt only, or (attempt null) whatever ran, when the job itself was lost for good. */
  async fail(task: TaskRef, attempt: number | null, error: { code: string; message: string }, eventAttempt = attempt ?? 0, served?: ServedBy): Promise<boolean> {
    if (!(await this.deps.tasks.fail(task.id, attempt, error, served))) return false;
    await Promise.all([this.appendQuietly(task.id, ending("FAILED", eventAttempt, error)), this.deps.bus.emit("task.failed", { task, attempt, error })]);
    return true;
  }

  /** Retried: RUNNING -> PENDING after a retryable failure; the job waits in the queue for its next attempt. */
  async retry(task: TaskRef, attempt: number, error: { code: string; message: string }): Promise<boolean> {
    if (!(await this.deps.tasks.releaseForRetry(task.id, attempt, error))) return false;
    await Promise.all([this.appendQuietly(task.id, [{ type: "status", status: "PENDING", attempt, error }]), this.deps.bus.emit("task.retried", { task, attempt, error })]);
    return true;
  }

  /**
   * Handed back: RUNNING -> PENDING for an attempt no upstream served (every upstream of the model
   * paused or open for longer than an attempt holds). No try is spent and the attempt is taken back
   * (`attempts` as before it started), so the task still expires by its own queue deadline; its
   * readers see it PENDING again. False when the attempt was fenced off or the task left RUNNING.
   */
  async release(task: TaskRef, attempt: number): Promise<boolean> {
    if (!(await this.deps.tasks.releaseUnserved(task.id, attempt))) return false;
    await this.appendQuietly(task.id, [{ type: "status", status: "PENDING", attempt }]);
    return true;
  }

  /**
   * Cancelled: PENDING or RUNNING -> CANCELLED. A waiting job is removed; a running attempt is stopped by
   * a listener (the cancel signal). Returns the status it had, or null when it was already final.
   */
  async cancel(task: TaskRecord): Promise<TaskStatus | null> {
    const previous = await this.deps.tasks.cancel(task.id);
    if (!previous) return null;
    await Promise.all([
      // Cancelled while running: its worker records the attempt's output next (keepCancelledOutput says so).
      this.appendQuietly(task.id, ending("CANCELLED", task.attempts, undefined, previous === "RUNNING")),
      previous === "PENDING" ? this.deps.queues.removeWaiting(task.queueName, task.id) : Promise.resolve(),
    ]);
    await this.deps.bus.emit("task.cancelled", { task: refOf(task), previous });
    return previous;
  }

  /**
   * Keeps what a cancelled attempt had generated (text and usage) once its worker has stopped; no status
   * change. The tokens it spent are announced, so quotas count a cancelled task as they count a finished one,
   * and an `output_kept` event tells the task's readers that its row is now as it stays (a live stream of
   * the cancelled response renders its end from the row once it has it).
   */
  async keepCancelledOutput(task: TaskRef, attempt: number, outcome: Omit<TaskOutcome, "finishReason">): Promise<boolean> {
    if (!(await this.deps.tasks.recordCancelledOutput(task.id, attempt, outcome))) return false;
    await Promise.all([
      this.appendQuietly(task.id, [{ type: "output_kept", attempt }]),
      this.deps.bus.emit("task.cancelled_output_kept", { task, attempt, usage: { promptTokens: outcome.promptTokens ?? 0, completionTokens: outcome.completionTokens } }),
    ]);
    return true;
  }

  /** Expired: tasks past their queue deadline that no worker started (a paused or unserved queue), `limit` at a time. */
  async expireOverdue(limit: number): Promise<number> {
    const expired = await this.deps.tasks.expireOverdue(limit);
    await this.expired(expired);
    return expired.length;
  }

  /** Batch items closed together (their batch cancelled or expired): their streams end, and listeners hear of each. */
  async closedWithBatch(closed: readonly ChangedTask[], status: "CANCELLED" | "EXPIRED"): Promise<void> {
    if (closed.length === 0) return;
    for (const task of closed) void this.deps.events.push(task.id, ending(status, task.attempts)).catch(() => undefined);
    await this.deps.events.flush();
    // A slice per event-loop turn: a 50,000-item batch's listeners would otherwise hold the loop.
    for (let start = 0; start < closed.length; start += EMITS_PER_TURN) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(
        closed
          .slice(start, start + EMITS_PER_TURN)
          .map((task) =>
            status === "CANCELLED" ? this.deps.bus.emit("task.cancelled", { task: refOf(task), previous: "PENDING", withBatch: true }) : this.deps.bus.emit("task.expired", { task: refOf(task), withBatch: true }),
          ),
      );
    }
  }

  /** After tasks expired: their streams end, their waiting jobs go (a job already taken finds the task EXPIRED), listeners hear. */
  private async expired(tasks: readonly ChangedTask[]): Promise<void> {
    if (tasks.length === 0) return;
    for (const task of tasks) void this.deps.events.push(task.id, ending("EXPIRED", task.attempts)).catch(() => undefined);
    await this.deps.events.flush();
    for (const task of tasks) {
      await this.deps.queues.removeWaiting(task.queueName, task.id).catch((error: unknown) => this.deps.logger.warn({ err: error, taskId: task.id }, "could not remove an expired task's job"));
      await this.deps.bus.emit("task.expired", { task: refOf(task) });
    }
  }

  /** Appends a transition's events; a failed append is logged (Postgres holds the state; readers re-read rows). */
  private async appendQuietly(taskId: string, events: TaskEvent[], options: { finishedTask?: string } = {}): Promise<void> {
    await this.deps.events.push(taskId, events, options).catch((error: unknown) => this.deps.logger.warn({ err: error, taskId }, "could not append task events"));
  }
}
