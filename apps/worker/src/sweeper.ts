import type { Logger } from "@llmq/core";
import type { BatchRecord, BatchRepository, IdempotencyRepository, TaskRepository, WebhookDeliveryRepository } from "@llmq/db";
import { type TaskEngine, refOf } from "@llmq/engine";
import type { BatchJobs, TaskEventLog, TaskQueues, TokenUsage, WebhookJobs } from "@llmq/queue";
import type { WebhookNotifier } from "@llmq/webhooks";
import { type FinalDeliveryScan, WEBHOOK_LOOKBACK_MS } from "./final-delivery-scan";
import { type RetentionDeps, type RetentionPolicy, type RetentionRound, inBoundedStatements, sweepRetention } from "./retention";

export interface SweeperDeps {
  /** Reads, and the retention's erasure of responses' content (as DELETE's); every state change goes through the engine. */
  tasks: TaskRepository;
  batches: BatchRepository;
  engine: Pick<TaskEngine, "tasks" | "batches">;
  batchJobs: BatchJobs;
  queues: Pick<TaskQueues, "jobState" | "runQueue">;
  webhooks: Pick<WebhookNotifier, "taskEndedById" | "batchEnded">;
  deliveries: WebhookDeliveryRepository;
  /** This process's place in the ended tasks whose final webhook it checks (see FinalDeliveryScan). */
  finalDeliveries: FinalDeliveryScan;
  /** This process's place in its walk over the open tasks (task_id order), a page of `limit` a round; "" starts again. */
  openTasks: { after: string };
  webhookJobs: WebhookJobs;
  idempotency: IdempotencyRepository;
  tokenUsage: Pick<TokenUsage, "settleBatch">;
  servedQueues: ReadonlySet<string>;
  staleAfterMs: number;
  /** Finished responses are erased this many hours after they ended (RESPONSE_RETENTION_HOURS); 0 keeps them until deleted. */
  responseRetentionHours: number;
  /** Where an erased response's event stream is dropped, as DELETE drops it. */
  events: Pick<TaskEventLog, "discard">;
  metrics: { responsesErased(count: number): void } & RetentionDeps["metrics"];
  /** TASK_RETENTION_DAYS and FILE_RETENTION_DAYS, and their statements. */
  retention: RetentionDeps["retention"];
  retentionPolicy: RetentionPolicy;
  logger: Logger;
}

/** Batches of erasures (and of expired idempotency keys) one round runs at most (each of `limit` rows, a short statement of its own). */
const MAX_ERASE_BATCHES_PER_ROUND = 10;

/**
 * Reconciles Postgres (the truth) with the run queues:
 * - a task whose lease expired more than 3 times (a crash loop: the run queue's dead list): fail it
 *   `job_lost`;
 * - a task untouched for a while that its run queue does not know (API died between commit and enqueue,
 *   or Redis lost it): enqueue again.
 * - batches: ingest jobs lost while validating are enqueued again; open batches expire, finalize or
 *   finish cancelling when their tasks allow, and send their progress webhooks; an ended batch whose
 *   token reservation was not settled (its process died in between) is settled;
 * - tasks past their queue deadline that no worker started (a paused or unserved queue) expire;
 * - webhooks: a final event whose delivery was never written is written, a due delivery without its
 *   job gets it (see sweepWebhooks);
 * - responses that ended longer than their retention ago are erased (see eraseResponsesPastRetention);
 * - finished tasks, ended batches and uploaded files past their retention are deleted (see sweepRetention).
 * Every step is idempotent, so any number of workers may sweep at once.
 */
export async function sweepOnce(
  deps: SweeperDeps,
  limit = 500,
): Promise<{ requeued: number; failed: number; erased: number; deleted: RetentionRound & { idempotency_keys: number } }> {
  for (const batch of await deps.batches.findValidatingBefore(new Date(Date.now() - deps.staleAfterMs), limit)) {
    if (batch.kind === "native") await dropAbandonedNativeBatch(deps, batch);
    else if (!(await deps.batchJobs.hasIngest(batch.id))) await deps.batchJobs.enqueueIngest(batch.id);
  }
  // Moves each open batch on; one with tasks still to end is announced for its progress webhooks.
  for (const batch of await deps.batches.findOpen(limit)) await deps.engine.batches.advance(batch);
  for (const batchId of await deps.batches.findUnsettled(limit)) await deps.tokenUsage.settleBatch(deps.batches, batchId);
  await deps.engine.tasks.expireOverdue(limit);
  await sweepWebhooks(deps, limit);
  // Idempotency keys are honoured for 24 hours; older ones only take space (a task's or batch's is gone a
  // day before its retention can delete it). Batches of `limit` until none is left, as the retention's.
  let expiredKeys = 0;
  await inBoundedStatements(MAX_ERASE_BATCHES_PER_ROUND, limit, async () => {
    const count = await deps.idempotency.deleteExpired(limit);
    expiredKeys += count;
    return count;
  });
  if (expiredKeys > 0) deps.metrics.retentionDeleted("idempotency_keys", expiredKeys);
  const erased = await eraseResponsesPastRetention(deps, limit);
  // After the erasure: a response's task is deleted only once erased.
  const deleted = await sweepRetention(deps, { rowsPerStatement: limit, ...deps.retentionPolicy });

  let requeued = 0;
  let failed = 0;
  // Crash loops: the run queue gave up on them (its lease expired more than 3 times).
  for (const queueName of deps.servedQueues) {
    for (const taskId of await deps.queues.runQueue(queueName).takeDead(100)) {
      const task = await deps.tasks.findById(taskId);
      if (!task) continue;
      const error = { code: "job_lost", message: "the task's worker stopped while running it more than 3 times (a crash loop); it is not tried again" };
      if (await deps.engine.tasks.fail(refOf(task), null, error, task.attempts)) {
        failed += 1;
        deps.logger.warn({ taskId }, "sweeper: task stalled more than 3 times; task failed");
      }
    }
  }
  // A page of the open tasks a round, walked in task_id order and started again at the end: each statement
  // reads at most `limit` of them, and behind any backlog every open task is checked within a few rounds.
  const page = await deps.tasks.findStale(new Date(Date.now() - deps.staleAfterMs), deps.openTasks.after, limit);
  deps.openTasks.after = page.next ?? "";
  const stale = page.stale;
  const unknown: string[] = [];
  for (const task of stale) {
    if (!deps.servedQueues.has(task.queueName)) continue;
    if (!(await deps.queues.jobState(task.queueName, task.id))) unknown.push(task.id);
  }
  // Their whole rows (the entry's tenant, estimate, deadline and request copy come from them); rare.
  for (const task of unknown.length > 0 ? await deps.tasks.findByIds(unknown) : []) {
    if (task.status !== "PENDING" && task.status !== "RUNNING") continue;
    // A batch item goes back as `flex`, an interactive task as `default` (see TaskTransitions.requeue).
    await deps.engine.tasks.requeue(task);
    requeued += 1;
    deps.logger.warn({ taskId: task.id, status: task.status }, "sweeper: task was not in its run queue; enqueued again");
  }
  return { requeued, failed, erased, deleted: { ...deleted, idempotency_keys: expiredKeys } };
}

/**
 * Erases the responses that ended more than RESPONSE_RETENTION_HOURS ago, as DELETE /v1/responses/{id}
 * does: the content goes from the row (which stays in the history with its usage) and the event stream
 * from Redis, so every response route answers 404 and `previous_response_id` refuses them. Batches of
 * `limit`, oldest first, at most MAX_ERASE_BATCHES_PER_ROUND a round: a backlog (retention just turned
 * on, or shortened) drains over a few rounds without one long statement. Returns how many it erased.
 */
async function eraseResponsesPastRetention(deps: SweeperDeps, limit: number): Promise<number> {
  if (deps.responseRetentionHours === 0) return 0;
  let erased = 0;
  await inBoundedStatements(MAX_ERASE_BATCHES_PER_ROUND, limit, async () => {
    const ids = await deps.tasks.eraseResponsesPastRetention(deps.responseRetentionHours * 3600, limit);
    // One pipelined round trip on the worker's auto-pipelined connection.
    await Promise.all(ids.map((id) => deps.events.discard(id)));
    erased += ids.length;
    return ids.length;
  });
  if (erased > 0) {
    deps.metrics.responsesErased(erased);
    deps.logger.info({ erased, retentionHours: deps.responseRetentionHours }, `sweeper: erased ${erased} responses past their retention`);
  }
  return erased;
}

/**
 * A native batch is `validating` only while the API inserts its rows, and is answered only once it is
 * in_progress: one still validating long after was never acknowledged (the API died mid-insert), so it
 * goes, with whatever rows it had, as a failed single submission would. The client's retry creates it anew.
 */
const ABANDONED_NATIVE_BATCH_MS = 10 * 60_000;

async function dropAbandonedNativeBatch(deps: SweeperDeps, batch: BatchRecord): Promise<void> {
  if (Date.now() - batch.createdAt.getTime() < ABANDONED_NATIVE_BATCH_MS) return;
  deps.logger.warn({ batchId: batch.id }, "sweeper: native batch abandoned while its rows went in; removed");
  await deps.engine.batches.discard(batch.id, "validating");
}

/**
 * Webhooks a crash left behind: final events of tasks and batches with no delivery row (the process died
 * between the state change and the row), and pending deliveries past due (died between the row, or a
 * failed attempt, and the next job). Both writes are idempotent: ids name the event and the attempt.
 * Tasks: those that ended since the last round, and a page of the full pass over the last 24 hours while
 * one runs (FinalDeliveryScan); batches (far fewer) over the last 24 hours each round.
 */
async function sweepWebhooks(deps: SweeperDeps, limit: number): Promise<void> {
  const now = Date.now();
  const since = new Date(now - WEBHOOK_LOOKBACK_MS);
  const settled = new Date(now - deps.staleAfterMs);
  for (const taskId of await deps.finalDeliveries.round(deps.deliveries, now, settled, limit)) {
    deps.logger.warn({ taskId }, "sweeper: final webhook of a task was missing; queued");
    await deps.webhooks.taskEndedById(taskId);
  }
  for (const batchId of await deps.deliveries.batchesMissingFinalDelivery(since, limit)) {
    deps.logger.warn({ batchId }, "sweeper: final webhook of a batch was missing; queued");
    await deps.webhooks.batchEnded(batchId);
  }
  for (const delivery of await deps.deliveries.findDue(settled, limit)) {
    await deps.webhookJobs.enqueueAttempt(delivery.id, delivery.attemptCount + 1);
  }
}

/**
 * Runs `sweepOnce` every `intervalMs` until stopped; errors are logged and the next round tries again. A
 * tick that finds the last round still going (a retention backlog, a slow database) is skipped, so rounds
 * never pile up.
 */
export function startSweeper(deps: SweeperDeps, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = sweepOnce(deps)
      .catch((error: unknown) => deps.logger.warn({ err: error }, "sweeper round failed"))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
