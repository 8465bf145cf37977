import type { Logger, WebhookEvent } from "@llmq/core";
import type { BatchRecord, BatchRepository, TaskRecord, TaskRepository, WebhookDeliveryRepository } from "@llmq/db";
import type { WebhookJobs } from "@llmq/queue";
import { type WebhookPayload, batchPayload, responseEventPayload, taskPayload, webhookWanting } from "./payloads";

/** A task as its callers have it at hand: the webhook column decides whether anything is to be done. */
export interface WatchedTask {
  id: string;
  webhook: unknown;
}

/** Progress webhooks fire when a task crosses each quarter, and a batch each tenth. */
const TASK_PROGRESS_STEP = 25;
const BATCH_PROGRESS_STEP = 10;

const FINAL_TASK_EVENTS: Partial<Record<TaskRecord["status"], WebhookEvent>> = {
  COMPLETED: "completed",
  FAILED: "failed",
  CANCELLED: "cancelled",
  EXPIRED: "expired",
};
const FINAL_BATCH_EVENTS: Partial<Record<string, WebhookEvent>> = { completed: "completed", failed: "failed", cancelled: "cancelled", expired: "expired" };

/** The progress step `percent` has reached (0 if none); 100 is the final event's business. */
export function progressStep(percent: number, step: number): number {
  const reached = Math.floor(percent / step) * step;
  return reached >= 100 ? 0 : reached;
}

/**
 * Turns task and batch events into webhook deliveries: a row in Postgres (its id names the subject and
 * event, so an event noticed twice is sent once), then a job. If the process dies between the two,
 * the sweeper enqueues the row; if it dies before the row, the sweeper finds the final event missing.
 */
export class WebhookNotifier {
  constructor(private readonly deps: { deliveries: WebhookDeliveryRepository; jobs: WebhookJobs; tasks: TaskRepository; batches: BatchRepository; logger: Logger }) {}

  /** A task reached a final status. Cheap for tasks without a webhook: `task` may be the row from before the change. */
  async taskEnded(watched: WatchedTask): Promise<void> {
    if (watched.webhook) await this.taskEndedById(watched.id);
  }

  /** A task reached a final status, read from its row (callers that do not have the row at hand: the sweeper). */
  async taskEndedById(taskId: string): Promise<void> {
    const task = await this.deps.tasks.findById(taskId);
    const event = task ? FINAL_TASK_EVENTS[task.status] : undefined;
    const webhook = task && event ? webhookWanting(task.webhook, event) : null;
    if (!task || !event || !webhook) return;
    // A response (OpenAI's Responses API) is told in OpenAI's event format; the delivery id is every task's.
    const payload = task.endpoint === "response" ? responseEventPayload(task) : taskPayload(`task.${event}`, task);
    await this.deliver({ subject: { taskId: task.id }, ownerId: task.ownerId, keyId: webhook.key_id, url: webhook.url, id: `msg_${task.id}_${event}`, payload });
  }

  /**
   * For a running task: a function to call with its percent after each checkpoint, which sends one
   * `task.progress` per quarter crossed (a no-op when the task's webhook does not want progress).
   */
  watchProgress(watched: WatchedTask): (percent: number) => void {
    if (!webhookWanting(watched.webhook, "progress")) return () => undefined;
    let sentStep = 0;
    // One quarter's message is queued only after the one before it (each reads the row first), so they
    // leave in order; deliveries run concurrently and are retried apart, so they may still arrive out of order.
    let previous = Promise.resolve();
    return (percent) => {
      const step = progressStep(percent, TASK_PROGRESS_STEP);
      if (step <= sentStep) return;
      sentStep = step;
      previous = previous.then(() =>
        this.taskProgressed(watched.id, step).catch((error: unknown) => this.deps.logger.warn({ err: error, taskId: watched.id }, "could not send a progress webhook")),
      );
    };
  }

  private async taskProgressed(taskId: string, step: number): Promise<void> {
    const task = await this.deps.tasks.findById(taskId);
    const webhook = task && task.status === "RUNNING" ? webhookWanting(task.webhook, "progress") : null;
    if (!task || !webhook) return;
    await this.deliver({ subject: { taskId }, ownerId: task.ownerId, keyId: webhook.key_id, url: webhook.url, id: `msg_${taskId}_progress_${step}`, payload: taskPayload("task.progress", task) });
  }

  /** A batch reached a final status. */
  async batchEnded(batchId: string): Promise<void> {
    const batch = await this.deps.batches.findById(batchId);
    const event = batch ? FINAL_BATCH_EVENTS[batch.status] : undefined;
    const webhook = event ? webhookWanting(batch?.webhook, event) : null;
    if (!batch || !event || !webhook) return;
    const counts = await this.deps.batches.counts(batch.id);
    await this.deliver({ subject: { batchId: batch.id }, ownerId: batch.ownerId, keyId: webhook.key_id, url: webhook.url, id: `msg_${batch.id}_${event}`, payload: batchPayload(`batch.${event}`, batch, counts) });
  }

  /** A batch in progress: one `batch.progress` per tenth of its items ended. */
  async batchProgressed(batch: BatchRecord): Promise<void> {
    const webhook = webhookWanting(batch.webhook, "progress");
    if (!webhook || batch.totalCount === 0) return;
    const counts = await this.deps.batches.counts(batch.id);
    const done = counts.COMPLETED + counts.FAILED + counts.CANCELLED + counts.EXPIRED;
    const step = progressStep((100 * done) / batch.totalCount, BATCH_PROGRESS_STEP);
    if (step === 0) return;
    await this.deliver({ subject: { batchId: batch.id }, ownerId: batch.ownerId, keyId: webhook.key_id, url: webhook.url, id: `msg_${batch.id}_progress_${step}`, payload: batchPayload("batch.progress", batch, counts) });
  }

  private async deliver(message: {
    id: string;
    subject: { taskId?: string; batchId?: string };
    ownerId: string;
    keyId: string | null;
    url: string;
    payload: WebhookPayload;
  }): Promise<void> {
    const created = await this.deps.deliveries.createIfAbsent({
      id: message.id,
      ownerId: message.ownerId,
      apiKeyId: message.keyId,
      ...message.subject,
      eventType: message.payload.type,
      url: message.url,
      payload: message.payload,
    });
    if (created) await this.deps.jobs.enqueueAttempt(message.id, 1);
  }
}
