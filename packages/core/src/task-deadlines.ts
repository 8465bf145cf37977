import { z } from "zod";

/** Most a task may wait in its queue (a week) and run in one attempt (a day). */
const MAX_QUEUE_TTL_SECONDS = 7 * 24 * 3600;
const MAX_TIMEOUT_SECONDS = 24 * 3600;

/**
 * Per-task deadlines, the same fields in both dialects (extension fields in the OpenAI one): a task not
 * started within `queue_ttl_seconds` ends EXPIRED without running; an attempt running longer than
 * `timeout_seconds` fails with `run_timeout`. Unset, the deployment's defaults apply.
 */
export const taskDeadlineFields = {
  queue_ttl_seconds: z
    .number()
    .int()
    .min(1)
    .max(MAX_QUEUE_TTL_SECONDS)
    .optional()
    .meta({ description: "Expire the task (status EXPIRED, never run) if no worker has started it within this many seconds. Default TASK_QUEUE_TTL_SECONDS." }),
  timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(MAX_TIMEOUT_SECONDS)
    .optional()
    .meta({ description: "Fail the task (error run_timeout) if one attempt runs longer than this. Default TASK_TIMEOUT_SECONDS." }),
};

/** The deadlines a caller asked for, as TaskInput carries them. */
export interface TaskDeadlines {
  queueTtlSeconds?: number;
  timeoutSeconds?: number;
}

export function deadlinesOf(body: { queue_ttl_seconds?: number; timeout_seconds?: number }): TaskDeadlines {
  return { queueTtlSeconds: body.queue_ttl_seconds, timeoutSeconds: body.timeout_seconds };
}
