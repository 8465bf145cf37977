import type { Logger } from "@llmq/core";
import type { BatchRecord, BatchRepository, TaskRepository } from "@llmq/db";
import type { TaskUpdates } from "@llmq/queue";

export interface BatchProgressDeps {
  batches: BatchRepository;
  tasks: TaskRepository;
  updates: TaskUpdates;
  logger: Logger;
}

/**
 * Moves a batch on when its tasks allow: past its window, PENDING items expire; once nothing is
 * PENDING or RUNNING, in_progress -> finalizing -> completed (or expired), cancelling -> cancelled.
 * Idempotent and conditional, so workers may all call it.
 */
export async function advanceBatch(deps: BatchProgressDeps, batch: BatchRecord, now = new Date()): Promise<void> {
  const expired = batch.expiresAt.getTime() <= now.getTime();
  if (batch.status === "in_progress" && expired) {
    const closed = await deps.tasks.closePendingOfBatch(batch.id, "EXPIRED");
    await deps.updates.publish(closed.map((taskId) => ({ taskId, ownerId: batch.ownerId })));
  }
  if (await deps.tasks.batchHasOpenTasks(batch.id)) return;
  switch (batch.status) {
    case "in_progress":
      if (expired) {
        if (await deps.batches.transition(batch.id, ["in_progress"], "expired")) deps.logger.info({ batchId: batch.id }, "batch expired");
        return;
      }
      await deps.batches.transition(batch.id, ["in_progress"], "finalizing");
      if (await deps.batches.transition(batch.id, ["finalizing"], "completed")) deps.logger.info({ batchId: batch.id }, "batch completed");
      return;
    case "finalizing":
      await deps.batches.transition(batch.id, ["finalizing"], "completed");
      return;
    case "cancelling":
      if (await deps.batches.transition(batch.id, ["cancelling"], "cancelled")) deps.logger.info({ batchId: batch.id }, "batch cancelled");
      return;
    default:
      return;
  }
}

/** After one of its tasks ended: advance the batch if that was its last open task. */
export async function onBatchTaskEnded(deps: BatchProgressDeps, batchId: string): Promise<void> {
  if (await deps.tasks.batchHasOpenTasks(batchId)) return;
  const batch = await deps.batches.findById(batchId);
  if (batch) await advanceBatch(deps, batch);
}
