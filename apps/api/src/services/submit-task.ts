import { type StoredWebhook, type TaskInput, newTaskId } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { AppDeps } from "../deps";
import type { Principal } from "../http/principal";
import type { IdempotencyClaim } from "./idempotency-service";

export interface Submission {
  caller: Principal;
  input: TaskInput;
  webhook?: StoredWebhook | null;
  /** The request's Idempotency-Key claim (http/idempotency.ts), or null. */
  claim: IdempotencyClaim | null;
}

/**
 * Submits a task once per Idempotency-Key (see IdempotencyService): a repeated request gets the task the
 * first one created (`replayed`, which the route marks `Idempotent-Replayed: true`) and the route answers
 * it as it would a new one.
 */
export async function submitTask(deps: Pick<AppDeps, "idempotency" | "taskService" | "tasks">, submission: Submission): Promise<{ task: TaskRecord; replayed: boolean }> {
  const { caller, input, webhook = null, claim } = submission;
  const { value: task, replayed } = await deps.idempotency.once(claim, newTaskId, {
    create: (id) => deps.taskService.submit(caller, input, { webhook, id }),
    find: (id) => deps.tasks.findVisible(id, caller),
  });
  return { task, replayed };
}
