import type { TaskUpdates } from "@llmq/queue";
import type { EngineBus, TaskRef } from "../bus";
import { perTick } from "./tick";

/** Least time between two progress announcements of one task: a live list row refreshes once a second at most. */
const PROGRESS_UPDATE_MS = 1_000;

/**
 * Live task lists (`GET /v1/ai/tasks/updates`, the dashboard) hear of every change: one PUBLISH per tick
 * for all tasks changed in it; progress at most once a second per task.
 */
export function liveListListener(bus: EngineBus, updates: Pick<TaskUpdates, "publish">): void {
  const publish = perTick<TaskRef>((tasks) => updates.publish(tasks.map((task) => ({ taskId: task.id, ownerId: task.ownerId }))));
  const lastProgress = new Map<string, number>();
  const ended = ({ task }: { task: TaskRef }) => {
    lastProgress.delete(task.id);
    return publish(task);
  };
  bus.on("task.created", ({ tasks }) => {
    if (tasks.length === 0) return;
    return Promise.all(tasks.map(publish)).then(() => undefined);
  });
  bus.on("task.started", ({ task }) => {
    lastProgress.set(task.id, Date.now());
    return publish(task);
  });
  bus.on("task.progressed", ({ task }) => {
    const last = lastProgress.get(task.id) ?? 0;
    if (Date.now() - last < PROGRESS_UPDATE_MS) return;
    lastProgress.set(task.id, Date.now());
    return publish(task);
  });
  for (const name of ["task.completed", "task.failed", "task.retried", "task.cancelled", "task.expired"] as const) bus.on(name, ended);
}
