import { uniquePrefix } from "@llmq/testkit";
import { type RedisConnection, RunQueue } from "../src";

/** A model's run queue and its fallback's, on one test clock the test moves by hand. */
export function twoQueues(redis: RedisConnection, start = 1_800_000_000_000) {
  const clock = { now: start };
  const prefix = uniquePrefix();
  const now = () => clock.now;
  const a = new RunQueue(redis, { prefix, queueName: "llm_model_a", now });
  const b = new RunQueue(redis, { prefix, queueName: "llm_model_b", now });
  return { a, b, clock };
}
