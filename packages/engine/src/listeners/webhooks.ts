import type { WebhookNotifier } from "@llmq/webhooks";
import type { EngineBus, TaskRef } from "../bus";

/**
 * Webhooks of tasks and batches: a final event per task and batch, progress per quarter of a running task
 * and per tenth of a batch. The notifier writes a delivery row (its id names the event, so an event heard
 * twice is sent once) and enqueues it; the sweeper repairs what a crash in between loses.
 */
export function webhookListener(bus: EngineBus, notifier: Pick<WebhookNotifier, "taskEnded" | "watchProgress" | "batchEnded" | "batchProgressed">): void {
  const watchers = new Map<string, (percent: number) => void>();
  const ended = async ({ task }: { task: TaskRef }) => {
    watchers.delete(task.id);
    await notifier.taskEnded(task);
  };
  bus.on("task.started", ({ task }) => {
    watchers.set(task.id, notifier.watchProgress(task));
  });
  bus.on("task.progressed", ({ task, percent }) => watchers.get(task.id)?.(percent));
  bus.on("task.retried", ({ task }) => {
    watchers.delete(task.id);
  });
  for (const name of ["task.completed", "task.failed", "task.cancelled", "task.expired"] as const) bus.on(name, ended);
  bus.on("batch.ended", ({ batchId }) => notifier.batchEnded(batchId));
  bus.on("batch.progressed", ({ batch }) => notifier.batchProgressed(batch));
}
