import type { BatchTransitions } from "../batches";
import type { EngineBus, TaskRef } from "../bus";
import { perTick } from "./tick";

/**
 * A batch moves on when one of its tasks ends (its last open task: finalizing, completed, cancelled):
 * once per batch per tick, however many of its tasks ended in it. Items closed together with their batch
 * are left out: the batch transition that closed them moves the batch on itself.
 */
export function batchProgressListener(bus: EngineBus, batches: Pick<BatchTransitions, "taskEnded">): void {
  const advance = perTick<string>(async (batchIds) => {
    for (const batchId of new Set(batchIds)) await batches.taskEnded(batchId);
  });
  const ended = ({ task, withBatch }: { task: TaskRef; withBatch?: boolean }) => (task.batchId && !withBatch ? advance(task.batchId) : undefined);
  for (const name of ["task.completed", "task.failed", "task.cancelled", "task.expired"] as const) bus.on(name, ended);
}
