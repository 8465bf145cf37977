import { isoOrNull } from "@llmq/core";
import type { BatchCounts, BatchRecord, TaskRecord } from "@llmq/db";


/** A batch (of either dialect: `kind` is how it was created) in the task dialect: its counts per task status and how far it is (finished / total, floored). */
export function nativeBatchData(batch: BatchRecord, counts: BatchCounts) {
  const total = batch.totalCount;
  const finished = counts.COMPLETED + counts.FAILED + counts.CANCELLED + counts.EXPIRED;
  return {
    batch_id: batch.id,
    kind: batch.kind,
    dialect: batch.kind === "openai" ? "openai" : "flexstack",
    status: batch.status,
    endpoint: batch.endpoint,
    total,
    counts,
    percent: total === 0 ? 0 : Math.floor((finished / total) * 100),
    completion_window: batch.completionWindow,
    created_at: batch.createdAt.toISOString(),
    in_progress_at: isoOrNull(batch.inProgressAt),
    expires_at: batch.expiresAt.toISOString(),
    completed_at: isoOrNull(batch.completedAt),
    cancelling_at: isoOrNull(batch.cancellingAt),
    cancelled_at: isoOrNull(batch.cancelledAt),
    expired_at: isoOrNull(batch.expiredAt),
    failed_at: isoOrNull(batch.failedAt),
  };
}

/** Why a task that did not complete ended, when it left no error of its own (cancelled, expired). */
function endedWithout(task: TaskRecord): { code: string; message: string } {
  if (task.status === "EXPIRED") return { code: "batch_expired", message: "This request could not be executed before the completion window expired." };
  if (task.status === "CANCELLED") return { code: "cancelled", message: task.attempts === 0 ? "This request was cancelled before it ran." : "This request was cancelled while it ran." };
  return { code: "failed", message: "This request failed." };
}

/** One line of `GET /v1/ai/batches/{id}/results`: a finished task, keyed by custom_id and task_id. */
export function resultLine(task: TaskRecord): string {
  const completed = task.status === "COMPLETED";
  return JSON.stringify({
    custom_id: task.customId,
    task_id: task.id,
    status: task.status,
    response: completed ? task.response : null,
    finish_reason: task.finishReason,
    usage: {
      prompt_tokens: task.promptTokens,
      completion_tokens: task.completionTokens,
      total_tokens: task.promptTokens === null ? null : task.promptTokens + task.completionTokens,
    },
    error: completed ? null : task.errorCode ? { code: task.errorCode, message: task.errorMessage ?? "" } : endedWithout(task),
  });
}
