import type { Logger } from "@llmq/core";
import type { BatchRecord, BatchRefusal, BatchRepository, BatchStatus, NewBatch, TaskRepository } from "@llmq/db";
import type { EngineBus } from "./bus";
import type { TaskTransitions } from "./tasks";

export interface BatchTransitionsDeps {
  batches: BatchRepository;
  tasks: TaskRepository;
  taskTransitions: TaskTransitions;
  bus: EngineBus;
  logger: Logger;
}

/** What asking to cancel a batch did. */
export type BatchCancel = "cancelling" | "already_cancelled" | "not_cancellable";

/**
 * Every change of a batch's status (created, started, progressed, finished, cancelled, expired, failed):
 * conditional transitions, the closing of its queued items through the task transitions, and a bus event.
 * Idempotent and conditional, so any number of processes may drive the same batch.
 */
export class BatchTransitions {
  constructor(private readonly deps: BatchTransitionsDeps) {}

  /** Created (`validating`), unless its owner already has `maxOpenPerOwner` open batches or its input file feeds an open one. */
  async create(batch: NewBatch, maxOpenPerOwner: number): Promise<BatchRecord | BatchRefusal> {
    const created = await this.deps.batches.createWithinLimits(batch, maxOpenPerOwner);
    if (!("refused" in created)) await this.deps.bus.emit("batch.created", { batchId: created.id, ownerId: created.ownerId });
    return created;
  }

  /** A batch never acknowledged to its client (its rows failed to go in, or the API died meanwhile) goes, with its tasks. */
  async discard(batchId: string, onlyIf?: BatchStatus): Promise<boolean> {
    if (onlyIf) return this.deps.batches.deleteIfStatus(batchId, onlyIf);
    await this.deps.batches.delete(batchId);
    return true;
  }

  /** The number of requests, once an ingest has counted them (progress counts against the real total). */
  async setTotal(batchId: string, totalCount: number): Promise<void> {
    await this.deps.batches.transition(batchId, ["validating"], "validating", { totalCount });
  }

  /**
   * Started: validating -> in_progress once every task is in. False when it was cancelled meanwhile: then
   * none of its items may run, so its queued items are closed CANCELLED (and the batch ends when nothing
   * runs any more).
   */
  async start(batch: Pick<BatchRecord, "id" | "ownerId">, totalCount: number): Promise<boolean> {
    if (await this.deps.batches.transition(batch.id, ["validating"], "in_progress", { totalCount })) {
      await this.deps.bus.emit("batch.started", { batchId: batch.id, ownerId: batch.ownerId });
      return true;
    }
    await this.deps.batches.transition(batch.id, ["cancelling"], "cancelling", { totalCount });
    await this.closeQueued(batch.id, "CANCELLED");
    await this.taskEnded(batch.id);
    return false;
  }

  /** Failed while validating (its file's lines, its quota). */
  async fail(batchId: string, errors: { object: "list"; data: object[] }): Promise<boolean> {
    return this.finish(batchId, ["validating"], "failed", { errors });
  }

  /**
   * Cancelled: queued items never run (CANCELLED at once), running ones are cancelled with their upstream
   * requests, finished ones are kept. The batch is `cancelling` until nothing runs, then `cancelled`.
   */
  async cancel(batch: BatchRecord): Promise<BatchCancel> {
    if (!(await this.deps.batches.transition(batch.id, ["validating", "in_progress"], "cancelling"))) {
      return batch.status === "cancelling" || batch.status === "cancelled" ? "already_cancelled" : "not_cancellable";
    }
    await this.closeQueued(batch.id, "CANCELLED");
    for (const taskId of await this.deps.tasks.runningIdsOfBatch(batch.id)) {
      const task = await this.deps.tasks.findById(taskId);
      if (task) await this.deps.taskTransitions.cancel(task).catch((error: unknown) => this.deps.logger.warn({ err: error, taskId }, "could not cancel a running item of a cancelled batch"));
    }
    // A batch still validating may be ingested meanwhile; the ingest only runs on `validating`, and the
    // sweeper finishes cancelling once nothing is open.
    await this.taskEnded(batch.id);
    return "cancelling";
  }

  /**
   * Moves a batch on when its tasks allow: past its window, queued items expire; once nothing is PENDING or
   * RUNNING, in_progress -> finalizing -> completed (or expired), cancelling -> cancelled. The sweeper calls
   * it for every open batch; a task's end calls it through taskEnded.
   */
  async advance(batch: BatchRecord, now = new Date()): Promise<void> {
    const expired = batch.expiresAt.getTime() <= now.getTime();
    if (batch.status === "in_progress" && expired) await this.closeQueued(batch.id, "EXPIRED");
    if (await this.deps.tasks.batchHasOpenTasks(batch.id)) {
      if (batch.status === "in_progress") await this.deps.bus.emit("batch.progressed", { batch });
      return;
    }
    switch (batch.status) {
      case "in_progress":
        if (expired) {
          await this.finish(batch.id, ["in_progress"], "expired");
          return;
        }
        await this.deps.batches.transition(batch.id, ["in_progress"], "finalizing");
        await this.finish(batch.id, ["finalizing"], "completed");
        return;
      case "finalizing":
        await this.finish(batch.id, ["finalizing"], "completed");
        return;
      case "cancelling":
        await this.finish(batch.id, ["cancelling"], "cancelled");
        return;
      default:
        return;
    }
  }

  /** After one of its tasks ended: advance the batch if that was its last open task. */
  async taskEnded(batchId: string): Promise<void> {
    if (await this.deps.tasks.batchHasOpenTasks(batchId)) return;
    const batch = await this.deps.batches.findById(batchId);
    if (batch) await this.advance(batch);
  }

  /** A conditional transition to a final status; listeners (webhook, token settlement) hear of it. */
  private async finish(batchId: string, from: BatchStatus[], to: BatchStatus, data: Parameters<BatchRepository["transition"]>[3] = {}): Promise<boolean> {
    if (!(await this.deps.batches.transition(batchId, from, to, data))) return false;
    this.deps.logger.info({ batchId }, `batch ${to}`);
    const batch = await this.deps.batches.findById(batchId);
    await this.deps.bus.emit("batch.ended", { batchId, ownerId: batch?.ownerId ?? "", status: to });
    return true;
  }

  /** The batch's queued items -> `status` in one statement, their streams ended, listeners told. */
  private async closeQueued(batchId: string, status: "CANCELLED" | "EXPIRED"): Promise<void> {
    const closed = await this.deps.tasks.closePendingOfBatch(batchId, status);
    await this.deps.taskTransitions.closedWithBatch(closed, status);
  }
}
