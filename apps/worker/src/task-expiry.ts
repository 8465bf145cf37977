import type { ExpiredTask } from "@llmq/db";
import type { TaskEventLog, TaskQueues } from "@llmq/queue";
import type { WebhookNotifier } from "@llmq/webhooks";

export interface ExpiryDeps {
  events: TaskEventLog;
  queues: TaskQueues;
  webhooks: Pick<WebhookNotifier, "taskEnded">;
}

/**
 * After tasks expired in Postgres (queue deadline passed, never started): their event streams end, their
 * waiting jobs go (a job already taken finds the task EXPIRED and does nothing), their webhooks are queued.
 */
export async function endExpiredTasks(deps: ExpiryDeps, tasks: readonly ExpiredTask[]): Promise<void> {
  if (tasks.length === 0) return;
  await deps.events.appendEndings(tasks, "EXPIRED");
  for (const task of tasks) {
    await deps.queues.removeWaiting(task.queueName, task.id);
    await deps.webhooks.taskEnded(task);
  }
}
