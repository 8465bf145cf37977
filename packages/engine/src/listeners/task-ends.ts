import type { ModelsConfig, TaskStatus } from "@llmq/core";
import type { EngineBus } from "../bus";

/** A status a task ends in. */
export type EndedStatus = Extract<TaskStatus, "COMPLETED" | "FAILED" | "CANCELLED" | "EXPIRED">;

/**
 * Calls `ended` once for each task this process's engine ended, with its model and the status it ended in:
 * a process's metrics count finished tasks as they end (llmq_tasks_ended_total) instead of counting the
 * table. Each end is one committed transition made by one process, so the counts of every API and worker
 * process add up to the tasks that ended.
 */
export function onTaskEnded(bus: EngineBus, models: ModelsConfig, ended: (model: string, status: EndedStatus) => void): void {
  const modelOf = new Map(models.models.map((model) => [model.queueName, model.id]));
  const model = (queueName: string) => modelOf.get(queueName) ?? queueName;
  bus.on("task.completed", ({ task }) => ended(model(task.queueName), "COMPLETED"));
  bus.on("task.failed", ({ task }) => ended(model(task.queueName), "FAILED"));
  bus.on("task.cancelled", ({ task }) => ended(model(task.queueName), "CANCELLED"));
  bus.on("task.expired", ({ task }) => ended(model(task.queueName), "EXPIRED"));
}
