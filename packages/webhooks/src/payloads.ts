import { type StoredWebhook, type WebhookEvent, isoOrNull, responseIdOf, responseStateOf, taskData } from "@llmq/core";
import type { BatchCounts, BatchRecord, TaskRecord } from "@llmq/db";

/**
 * The body of a webhook: `{type, timestamp, data}` (Standard Webhooks' recommended shape) for tasks and
 * batches, OpenAI's `{id, object, created_at, type, data}` for responses. Stored with the delivery and
 * sent as stored on every attempt.
 */
export interface WebhookPayload {
  type: string;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

/** The task's webhook, when it has one that wants `event`. */
export function webhookWanting(stored: unknown, event: WebhookEvent): StoredWebhook | null {
  const webhook = stored as StoredWebhook | null;
  return webhook && Array.isArray(webhook.events) && webhook.events.includes(event) ? webhook : null;
}

/** `task.completed` and friends: the task as GET /v1/ai/tasks/{id} shows it in `data.data` (without the polling-only queue estimate). */
export function taskPayload(type: string, task: TaskRecord, now = new Date()): WebhookPayload {
  return { type, timestamp: now.toISOString(), data: taskData(task) };
}

/**
 * The events a response's webhook may ask for: its endings. OpenAI's event format has no progress event
 * (a response's progress is its event stream).
 */
export const RESPONSE_WEBHOOK_EVENTS: readonly WebhookEvent[] = ["completed", "failed", "cancelled", "expired"];

/**
 * OpenAI's webhook event for a response that ended (`response.completed`, `response.incomplete` for a
 * completion cut short by its token limit, `response.failed` for a failed or expired one,
 * `response.cancelled`), as the SDK's `client.webhooks.unwrap()` returns it: `data.id` is the response's
 * id, `created_at` when it ended (seconds), and the event `id` is derived from the task and the type, so
 * it is the same on every attempt and in every process.
 */
export function responseEventPayload(task: TaskRecord, now = new Date()): WebhookPayload {
  const ending = responseStateOf(task);
  return {
    id: `evt_${task.id}_${ending}`,
    object: "event",
    created_at: Math.floor((task.completedAt ?? now).getTime() / 1000),
    type: `response.${ending}`,
    data: { id: responseIdOf(task.id) },
  };
}

/** `batch.completed` and friends: the batch's state and per-status counts. */
export function batchPayload(type: string, batch: BatchRecord, counts: BatchCounts, now = new Date()): WebhookPayload {
  const done = counts.COMPLETED + counts.FAILED + counts.CANCELLED + counts.EXPIRED;
  return {
    type,
    timestamp: now.toISOString(),
    data: {
      batch_id: batch.id,
      kind: batch.kind,
      status: batch.status,
      endpoint: batch.endpoint,
      metadata: batch.metadata ?? null,
      percent: batch.totalCount > 0 ? Math.floor((100 * done) / batch.totalCount) : 0,
      request_counts: {
        total: batch.totalCount,
        completed: counts.COMPLETED,
        failed: counts.FAILED,
        cancelled: counts.CANCELLED,
        expired: counts.EXPIRED,
        running: counts.RUNNING,
        pending: counts.PENDING,
      },
      errors: batch.errors ?? null,
      created_at: batch.createdAt.toISOString(),
      in_progress_at: isoOrNull(batch.inProgressAt),
      completed_at: isoOrNull(batch.completedAt),
      failed_at: isoOrNull(batch.failedAt),
      expired_at: isoOrNull(batch.expiredAt),
      cancelled_at: isoOrNull(batch.cancelledAt),
    },
  };
}
