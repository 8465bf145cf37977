import type { TaskStatus } from "./task-status";

/** The task fields its public view is made of (a task row has them all). */
export interface TaskFields {
  id: string;
  /** The API the task came through (TaskEndpoint). */
  endpoint: string;
  /** The service tier it is served at (ServiceTier). */
  tier: string;
  batchId: string | null;
  customId: string | null;
  status: TaskStatus;
  percent: number;
  response: string;
  model: string;
  finishReason: string | null;
  promptTokens: number | null;
  completionTokens: number;
  attempts: number;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
  startedAt: Date | null;
  firstTokenAt: Date | null;
  completedAt: Date | null;
}

/** A timestamp as APIs show it (ISO 8601), or null when it has not happened. */
export function isoOrNull(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/**
 * A task as clients see it: Flexstack's task fields, then ours (timings, usage, errors). The task API's
 * `data.data` and webhook payloads both carry exactly this.
 */
export function taskData(task: TaskFields) {
  const queueWaitMs = task.startedAt ? task.startedAt.getTime() - task.createdAt.getTime() : null;
  const firstTokenMs = task.firstTokenAt && task.startedAt ? task.firstTokenAt.getTime() - task.startedAt.getTime() : null;
  const durationMs = task.completedAt && task.startedAt ? task.completedAt.getTime() - task.startedAt.getTime() : null;
  return {
    task_id: task.id,
    endpoint: task.endpoint,
    service_tier: task.tier,
    batch_id: task.batchId,
    custom_id: task.customId,
    total_tasks: 1,
    percent: task.status === "COMPLETED" ? 100 : task.percent,
    status: task.status,
    response: task.response,
    model: task.model,
    finish_reason: task.finishReason,
    usage: {
      prompt_tokens: task.promptTokens,
      completion_tokens: task.completionTokens,
      total_tokens: task.promptTokens === null ? null : task.promptTokens + task.completionTokens,
    },
    attempts: task.attempts,
    error: task.errorCode ? { code: task.errorCode, message: task.errorMessage ?? "" } : null,
    created_at: task.createdAt.toISOString(),
    started_at: isoOrNull(task.startedAt),
    first_token_at: isoOrNull(task.firstTokenAt),
    completed_at: isoOrNull(task.completedAt),
    timings: {
      queue_wait_seconds: queueWaitMs === null ? null : seconds(queueWaitMs),
      time_to_first_token_seconds: firstTokenMs === null ? null : seconds(firstTokenMs),
      duration_seconds: durationMs === null ? null : seconds(durationMs),
    },
  };
}
