import type { BatchRepository } from "@llmq/db";
import type { TokenUsage } from "@llmq/queue";
import type { EngineBus } from "../bus";

/**
 * Daily token counters of users and keys (quotas): an interactive task adds what it used when it
 * completes; a batch reserved its budget when admitted and settles it once when it ends, so its tasks are
 * not counted one by one. The sweeper settles batches whose process died in between.
 */
export function usageListener(bus: EngineBus, deps: { tokenUsage: Pick<TokenUsage, "add" | "settleBatch">; batches: BatchRepository }): void {
  bus.on("task.completed", async ({ task, usage }) => {
    if (task.batchId) return;
    await deps.tokenUsage.add({ userId: task.ownerId, keyId: task.apiKeyId }, usage.promptTokens + usage.completionTokens);
  });
  bus.on("batch.ended", ({ batchId }) => deps.tokenUsage.settleBatch(deps.batches, batchId));
}
