import type { Logger } from "@llmq/core";
import type { BatchRecord, BatchRepository, BatchStatus, TaskRepository } from "@llmq/db";
import type { TaskEventLog, TaskUpdates, TokenUsage } from "@llmq/queue";
import type { WebhookNotifier } from "@llmq/webhooks";

export interface BatchProgressDeps {
  batches: BatchRepository;
  tasks: TaskRepository;
  events: TaskEventLog;
  webhooks: Pick<WebhookNotifier, "batchEnded">;
  updates: TaskUpdates;
  /** Settles an ended batch's token reservation against its real usage. */
  tokenUsage: Pick<TokenUsage, "settleBatch">;
  logger: Logger;
}

/**
 * A conditional batch transition that, when it lands on a final status, queues the batch's webhook and
 * settles its token reservation.
 */
async function finish(deps: BatchProgressDeps, batchId: string, from: BatchStatus[], to: BatchStatus): Promise<boolean> {
  if (!(await deps.batches.transition(batchId, from, to))) return false;
  deps.logger.info({ batchId }, `batch ${to}`);
  // The sweeper sends it later if this fails (batchesMissingFinalDelivery), and settles it (findUnsettled).
  await deps.webhooks.batchEnded(batchId).catch((error: unknown) => deps.logger.warn({ err: error, batchId }, "could not queue the batch's webhook"));
  await deps.tokenUsage.settleBatch(deps.batches, batchId).catch((error: unknown) => deps.logger.warn({ err: error, batchId }, "could not settle the batch's tokens"));
  return true;
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
    await deps.events.appendEndings(closed, "EXPIRED");
    await deps.updates.publish(closed.map((task) => ({ taskId: task.id, ownerId: batch.ownerId })));
  }
  if (await deps.tasks.batchHasOpenTasks(batch.id)) return;
  switch (batch.status) {
    case "in_progress":
      if (expired) {
        await finish(deps, batch.id, ["in_progress"], "expired");
        return;
      }
      await deps.batches.transition(batch.id, ["in_progress"], "finalizing");
      await finish(deps, batch.id, ["finalizing"], "completed");
      return;
    case "finalizing":
      await finish(deps, batch.id, ["finalizing"], "completed");
      return;
    case "cancelling":
      await finish(deps, batch.id, ["cancelling"], "cancelled");
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
