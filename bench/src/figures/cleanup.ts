import { Queue } from "bullmq";
import type { BenchStack } from "../stack";

/** Empties a queue (jobs and their keys). */
export async function obliterate(stack: BenchStack, queueName: string): Promise<void> {
  const queue = new Queue(queueName, { connection: stack.redis, prefix: stack.bullPrefix });
  await queue.obliterate({ force: true });
  await queue.close();
}

/** Retires the tasks a figure left waiting on `model` (no worker will run them) and empties its queue. */
export async function retireWaiting(stack: BenchStack, model: string, queueName: string): Promise<void> {
  await stack.pg.query("UPDATE tasks SET status = 'CANCELLED', completed_at = now() WHERE model = $1 AND status = 'PENDING'", [model]);
  await obliterate(stack, queueName);
}
