import { uniquePrefix } from "@llmq/testkit";
import { type RedisConnection, RunQueue, type RunQueueEntry, type ServiceTier } from "../src";

/** A run queue of its own (a fresh prefix) on a test clock the test moves by hand. */
export function testQueue(redis: RedisConnection, start = 1_800_000_000_000) {
  const clock = { now: start };
  const queue = new RunQueue(redis, { prefix: uniquePrefix(), queueName: "llm_test_queue", now: () => clock.now });
  return { queue, clock };
}

let serial = 0;

/** `n` entries of one tenant with fresh ids. */
export function entries(tenant: string, n: number, options: { tier?: ServiceTier; weight?: number; est?: number } = {}): RunQueueEntry[] {
  return Array.from({ length: n }, () => ({
    id: `${tenant}-${++serial}`,
    tenant,
    weight: options.weight ?? 1,
    tier: options.tier ?? "default",
    estimatedTokens: options.est ?? 100,
    queueDeadline: null,
    requestCopy: null,
  }));
}
