import type { TaskStatus } from "./task-status";

/**
 * OpenAI's Responses API on tasks: a response is a task (endpoint `response`), its id `resp_` + the task
 * id, its status the task's in OpenAI's words. Shared by the API's response object and the response
 * webhooks, so both tell a response's state the same way.
 */
export const RESPONSE_ID_PREFIX = "resp_";

export function responseIdOf(taskId: string): string {
  return RESPONSE_ID_PREFIX + taskId;
}

export type ResponseState = "queued" | "in_progress" | "completed" | "incomplete" | "failed" | "cancelled";

/** A response's status from its task's: a completion cut short by its token limit is `incomplete`; an expired task `failed`. */
export function responseStateOf(task: { status: TaskStatus; finishReason: string | null }): ResponseState {
  switch (task.status) {
    case "PENDING":
      return "queued";
    case "RUNNING":
      return "in_progress";
    case "COMPLETED":
      return task.finishReason === "length" ? "incomplete" : "completed";
    case "CANCELLED":
      return "cancelled";
    case "FAILED":
    case "EXPIRED":
      return "failed";
  }
}
