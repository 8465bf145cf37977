import { NotFoundError, ValidationError, isFinal } from "@llmq/core";
import type { TaskRecord, Viewer } from "@llmq/db";
import type { TaskService } from "../services/task-service";
import { responseStatusOf, storedRequestOf, taskIdOfResponseId } from "./format";

/** 404 `response_not_found`, worded the same whether the id is malformed, another tenant's, deleted or never stored. */
export function responseNotFound(responseId: string): NotFoundError {
  return new NotFoundError(`No response with id '${responseId}'.`, { param: "response_id", code: "response_not_found" });
}

/** Whether a task is a response its API still answers for: not deleted, and stored (`store` not false). */
export function isKeptResponse(task: Pick<TaskRecord, "endpoint" | "configs">): boolean {
  if (task.endpoint !== "response") return false;
  const stored = storedRequestOf(task) as { store?: boolean; erased?: boolean } | undefined;
  return stored !== undefined && stored.erased !== true && stored.store !== false;
}

/**
 * The task behind a response id that `viewer` may see, or 404: another tenant's response, an id that is
 * not a response's, a deleted one and one created with `store: false` are all unknown here.
 */
export async function findResponse(taskService: Pick<TaskService, "get">, viewer: Viewer, responseId: string): Promise<TaskRecord> {
  const taskId = taskIdOfResponseId(responseId);
  if (!taskId) throw responseNotFound(responseId);
  const task = await taskService.get(viewer, taskId).catch(() => {
    throw responseNotFound(responseId);
  });
  if (!isKeptResponse(task)) throw responseNotFound(responseId);
  return task;
}

/**
 * The response `previous_response_id` names, final: OpenAI's 400 `previous_response_not_found` when it is
 * not one the caller may continue (unknown, another tenant's, deleted, not stored), and a 400 naming its
 * status while it is still queued or in progress (its output is not known yet).
 */
export async function findPreviousResponse(taskService: Pick<TaskService, "get">, viewer: Viewer, responseId: string): Promise<TaskRecord> {
  const task = await findResponse(taskService, viewer, responseId).catch(() => {
    throw new ValidationError(`Previous response with id '${responseId}' not found.`, { param: "previous_response_id", code: "previous_response_not_found" });
  });
  if (!isFinal(task.status)) {
    throw new ValidationError(
      `Previous response with id '${responseId}' is still ${responseStatusOf(task)}: continue it once it has finished (poll GET /v1/responses/${responseId}).`,
      { param: "previous_response_id", code: "previous_response_not_finished" },
    );
  }
  return task;
}
