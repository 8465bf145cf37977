import type { LimitsRecord } from "@llmq/db";
import { z } from "zod";

const limit = (what: string, inherited: string) => z.number().int().min(0).nullable().optional().meta({ description: `${what}; null: ${inherited}, 0: unlimited.` });

/** `limits` of a key or a user in the admin API; `inherited` says what null means for it. */
export function limitsSchema(inherited: string) {
  return z.strictObject({
    rate_limit_per_minute: limit("Task and batch submissions per minute", inherited),
    max_concurrent_tasks: limit("Interactive tasks PENDING or RUNNING at once", inherited),
    tokens_per_day: limit("Prompt + completion tokens per UTC day (batches reserve theirs when admitted)", inherited),
    max_open_streams: limit("Open streams (SSE, both dialects) and synchronous requests waiting for their task, at once, over all API processes", inherited),
  });
}

/** The fields a request set, in the repository's names (an absent field is left as it is). */
export function limitsRecord(limits: z.infer<ReturnType<typeof limitsSchema>> = {}): Partial<LimitsRecord> {
  return Object.fromEntries(
    Object.entries({ rateLimitPerMinute: limits.rate_limit_per_minute, maxConcurrentTasks: limits.max_concurrent_tasks, tokensPerDay: limits.tokens_per_day, maxOpenStreams: limits.max_open_streams }).filter(([, value]) => value !== undefined),
  );
}
