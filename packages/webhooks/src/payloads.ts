import { type StoredWebhook, type WebhookEvent, isoOrNull, taskData } from "@llmq/core";
import type { BatchCounts, BatchRecord, TaskRecord } from "@llmq/db";

/** The body of every webhook (Standard Webhooks' recommended shape): `{type, timestamp, data}`. */
export interface WebhookPayload {
  type: string;
  timestamp: string;
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
