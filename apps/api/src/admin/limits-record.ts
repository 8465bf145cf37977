import type { LimitsInput } from "@llmq/contract";
import type { LimitsRecord } from "@llmq/db";

/** The fields a request set, in the repository's names (an absent field is left as it is). */
export function limitsRecord(limits: LimitsInput = {}): Partial<LimitsRecord> {
  return Object.fromEntries(
    Object.entries({ rateLimitPerMinute: limits.rate_limit_per_minute, maxConcurrentTasks: limits.max_concurrent_tasks, tokensPerDay: limits.tokens_per_day, maxOpenStreams: limits.max_open_streams, fairShareWeight: limits.fair_share_weight }).filter(([, value]) => value !== undefined),
  );
}
