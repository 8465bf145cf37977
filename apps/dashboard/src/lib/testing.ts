import type { TaskRow } from "@llmq/contract";

/** A task row for unit tests: a finished gemma-7b task unless overridden. */
export function taskRow(overrides: Partial<TaskRow> = {}): TaskRow {
  return {
    task_id: "t1",
    endpoint: "task",
    service_tier: "default",
    total_tasks: 1,
    batch_id: null,
    custom_id: null,
    percent: 100,
    status: "COMPLETED",
    response: "hello",
    model: "gemma-7b",
    finish_reason: "stop",
    usage: { prompt_tokens: 3, completion_tokens: 10, total_tokens: 13 },
    attempts: 1,
    error: null,
    created_at: "2026-01-01T00:00:00.000Z",
    started_at: "2026-01-01T00:00:00.100Z",
    first_token_at: "2026-01-01T00:00:00.200Z",
    completed_at: "2026-01-01T00:00:01.200Z",
    timings: { queue_wait_seconds: 0.1, time_to_first_token_seconds: 0.1, duration_seconds: 1.1 },
    ...overrides,
  };
}
