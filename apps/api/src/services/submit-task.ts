import { type StoredWebhook, type TaskInput, newTaskId } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { Request, Response } from "express";
import type { AppDeps } from "../deps";
import { principalOf } from "../http/principal";

/**
 * Submits a task once per Idempotency-Key (see IdempotencyService): a repeated request gets the task the
 * first one created, marked `Idempotent-Replayed: true`, and the route answers it as it would a new one.
 */
export async function submitTask(req: Request, res: Response, deps: Pick<AppDeps, "idempotency" | "taskService" | "tasks">, input: TaskInput, webhook: StoredWebhook | null = null): Promise<TaskRecord> {
  const caller = principalOf(req);
  const { value: task, replayed } = await deps.idempotency.once(req, newTaskId, {
    create: (id) => deps.taskService.submit(caller, input, { webhook, id }),
    find: (id) => deps.tasks.findVisible(id, caller),
  });
  if (replayed) res.set("Idempotent-Replayed", "true");
  return task;
}
