import type { BatchRepository } from "@llmq/db";
import type { TokenUsage } from "@llmq/queue";
import type { EngineBus, TaskRef, TaskUsage } from "../bus";
import { perTick } from "./tick";

/**
 * Daily token counters of users and keys (quotas): an interactive task adds what it used when it
 * completes, or when the output of its cancelled attempt is kept; a batch reserved its budget when
 * admitted and settles it once when it ends, so its tasks are not counted one by one. The sweeper settles batches whose process died in between.
 */
export function usageListener(bus: EngineBus, deps: { tokenUsage: Pick<TokenUsage, "add" | "settleBatch">; batches: BatchRepository }): void {
  // A tick's completions of one user and key are added together.
  const add = perTick<{ userId: string; keyId: string | null; tokens: number }>(async (uses) => {
    const bySubject = new Map<string, { userId: string; keyId: string | null; tokens: number }>();
    for (const use of uses) {
      const key = `${use.userId}:${use.keyId ?? ""}`;
      const sum = bySubject.get(key);
      if (sum) sum.tokens += use.tokens;
      else bySubject.set(key, { ...use });
    }
    await Promise.all([...bySubject.values()].map(({ tokens, ...subject }) => deps.tokenUsage.add(subject, tokens)));
  });
  const used = ({ task, usage }: { task: TaskRef; usage: TaskUsage }) =>
    task.batchId ? undefined : add({ userId: task.ownerId, keyId: task.apiKeyId, tokens: usage.promptTokens + usage.completionTokens });
  // A cancelled attempt stopped the spend, not the bill: what it used up to the cancel counts too.
  bus.on("task.completed", used);
  bus.on("task.cancelled_output_kept", used);
  bus.on("batch.ended", ({ batchId }) => deps.tokenUsage.settleBatch(deps.batches, batchId));
}
