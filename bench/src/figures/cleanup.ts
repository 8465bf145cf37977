import { runQueueKeys } from "@llmq/queue";
import { Queue } from "bullmq";
import type { BenchStack } from "../stack";

/** Empties a queue (jobs and their keys). */
export async function obliterate(stack: BenchStack, queueName: string): Promise<void> {
  const queue = new Queue(queueName, { connection: stack.redis, prefix: stack.bullPrefix });
  await queue.obliterate({ force: true });
  await queue.close();
}

/** The run queue's key prefix of a model's queue. */
export function runQueueBase(stack: BenchStack, queueName: string): string {
  return runQueueKeys(stack.redisPrefix, queueName).base;
}

/** Empties a model's run queue (every key under its prefix). */
export async function clearRunQueue(stack: BenchStack, queueName: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await stack.redis.scan(cursor, "MATCH", `${runQueueBase(stack, queueName)}*`, "COUNT", 1_000);
    cursor = next;
    if (keys.length > 0) await stack.redis.del(...keys);
  } while (cursor !== "0");
}

/** Retires the tasks a figure left waiting on `model` (no worker will run them) and empties its run queue. */
export async function retireWaiting(stack: BenchStack, model: string, queueName: string): Promise<void> {
  await stack.pg.query("UPDATE tasks SET status = 'CANCELLED', completed_at = now() WHERE model = $1 AND status = 'PENDING'", [model]);
  await clearRunQueue(stack, queueName);
}

/**
 * A task row of a baseline, with the columns the service's insert writes (packages/db/src/task-sql.ts):
 * $1 id, $2 owner, $3 model, $4 queue, $5 messages, $6 configs, $7 queue TTL in seconds, $8 run timeout in ms.
 */
export const INSERT_TASK = `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, webhook, api_key_id, expires_at, run_timeout_ms, updated_at)
  VALUES ($1, $2::uuid, $3, 'task', $4, $5::jsonb, $6::jsonb, NULL, NULL, now() + make_interval(secs => $7), $8, now())`;

/** The same for many rows in one statement (arrays unnested), as the service inserts a batch's. */
export const INSERT_TASKS = `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, webhook, api_key_id, expires_at, run_timeout_ms, updated_at)
  SELECT id, $2::uuid, $3, 'task', $4, $5::jsonb, $6::jsonb, NULL, NULL, now() + make_interval(secs => $7), $8, now() FROM unnest($1::text[]) AS t(id)`;

/** Deletes the baselines' rows from `tasks` and vacuums it, so that the figures after them find the table as the service left it. */
export async function deleteBaselineRows(stack: BenchStack): Promise<void> {
  await stack.pg.query("DELETE FROM tasks WHERE owner_id = $1", [stack.baselineOwnerId]);
  await stack.pg.query("VACUUM (ANALYZE) tasks");
}
