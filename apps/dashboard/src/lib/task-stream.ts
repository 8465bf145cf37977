import type { TaskProgressEvent } from "@llmq/client";
import type { TaskEnvelopeData } from "@llmq/contract";

/** What the detail page shows of a task while following its event stream. */
export interface LiveTask {
  envelope: TaskEnvelopeData;
  /** Text as streamed so far (the envelope's `response` is only checkpointed). */
  text: string;
  /** The attempt whose tokens `text` holds. */
  attempt: number;
  /** The stream delivered the final result. */
  done: boolean;
}

/**
 * Applies one event of `GET /v1/ai/tasks/{id}/events` (docs/task-api.md): `status` moves the task on (a
 * RUNNING status of a new attempt discards the old attempt's text), `token` appends text, `result`
 * replaces everything with the final envelope.
 */
export function applyTaskEvent(live: LiveTask, message: TaskProgressEvent): LiveTask {
  const row = live.envelope.data;
  switch (message.event) {
    case "status": {
      const event = message.data;
      // The API's PENDING and the worker's RUNNING are written by two processes and can land in either
      // order: a status of an attempt older than one already seen is stale.
      if (event.attempt < live.attempt) return live;
      const fresh = event.status === "RUNNING" && event.attempt > live.attempt;
      return {
        ...live,
        attempt: fresh ? event.attempt : live.attempt,
        text: fresh ? "" : live.text,
        envelope: {
          ...live.envelope,
          data: {
            ...row,
            status: event.status,
            attempts: Math.max(row.attempts, event.attempt),
            error: event.error ?? row.error,
            // The browser's clock until the final envelope brings the server's times.
            started_at: event.status === "RUNNING" ? (row.started_at ?? new Date().toISOString()) : row.started_at,
          },
        },
      };
    }
    case "token": {
      const event = message.data;
      return {
        ...live,
        text: live.text + event.delta,
        envelope: {
          ...live.envelope,
          data: { ...row, status: "RUNNING", percent: event.percent, usage: { ...row.usage, completion_tokens: event.tokens }, first_token_at: row.first_token_at ?? new Date().toISOString() },
        },
      };
    }
    case "result": {
      const envelope: TaskEnvelopeData = message.data.data;
      return { envelope, text: envelope.data.response ?? live.text, attempt: envelope.data.attempts, done: true };
    }
    default:
      return live;
  }
}
