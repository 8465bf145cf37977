import type { Logger } from "@llmq/core";
import type { BatchRepository, TaskRepository } from "@llmq/db";
import type { BatchJobs, TaskEventLog, TaskQueues, TaskUpdates } from "@llmq/queue";
import { advanceBatch } from "./batch-progress";

export interface SweeperDeps {
  tasks: TaskRepository;
  batches: BatchRepository;
  batchJobs: BatchJobs;
  queues: TaskQueues;
  events: TaskEventLog;
  updates: TaskUpdates;
  servedQueues: ReadonlySet<string>;
  staleAfterMs: number;
  logger: Logger;
}

/**
 * Reconciles Postgres (the truth) with the queue, for tasks untouched for a while:
 * - no job at all (API died between commit and enqueue, or Redis lost it): enqueue again;
 * - the job failed for good without the task being told (e.g. stalled too often): fail the task.
 * - batches: ingest jobs lost while validating are enqueued again; open batches expire, finalize or
 *   finish cancelling when their tasks allow.
 * Every step is idempotent, so any number of workers may sweep at once.
 */
export async function sweepOnce(deps: SweeperDeps, limit = 500): Promise<{ requeued: number; failed: number }> {
  for (const batch of await deps.batches.findValidatingBefore(new Date(Date.now() - deps.staleAfterMs), limit)) {
    if (!(await deps.batchJobs.hasIngest(batch.id))) await deps.batchJobs.enqueueIngest(batch.id);
  }
  for (const batch of await deps.batches.findOpen(limit)) await advanceBatch(deps, batch);

  const stale = await deps.tasks.findStale(new Date(Date.now() - deps.staleAfterMs), limit);
  let requeued = 0;
  let failed = 0;
  for (const task of stale) {
    if (!deps.servedQueues.has(task.queueName)) continue;
    const job = await deps.queues.jobState(task.queueName, task.id);
    if (!job) {
      await deps.queues.enqueue(task.queueName, task.id);
      requeued += 1;
      deps.logger.warn({ taskId: task.id, status: task.status }, "sweeper: task had no job; enqueued again");
    } else if (job.state === "failed" || job.state === "completed") {
      const error = { code: "job_lost", message: job.failedReason ?? `the task's job ended (${job.state}) without finishing it` };
      if (await deps.tasks.fail(task.id, null, error)) {
        await deps.events.append(task.id, [
          { type: "status", status: "FAILED", attempt: task.attempts, error },
          { type: "final", status: "FAILED" },
        ]);
        await deps.updates.publish([{ taskId: task.id, ownerId: task.ownerId }]);
        failed += 1;
        deps.logger.warn({ taskId: task.id, state: job.state }, "sweeper: job ended without the task; task failed");
      }
    }
  }
  return { requeued, failed };
}

/** Runs `sweepOnce` every `intervalMs` until stopped; errors are logged and the next round tries again. */
export function startSweeper(deps: SweeperDeps, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepOnce(deps).catch((error: unknown) => deps.logger.warn({ err: error }, "sweeper round failed"));
  }, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
