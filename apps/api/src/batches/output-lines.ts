import type { TaskRecord } from "@llmq/db";
import { openAIErrorBody } from "../http/error-handler";
import { chatCompletionObject, textCompletionObject } from "../openai/format";
import { unfinishedTaskError } from "../openai/task-errors";

/** One line of a batch's output file, in OpenAI's batch output format. */
export function outputLine(task: TaskRecord): string {
  const body = task.endpoint === "text_completion" ? textCompletionObject(task) : chatCompletionObject(task);
  return JSON.stringify({
    id: `batch_req_${task.id}`,
    custom_id: task.customId,
    response: { status_code: 200, request_id: task.id, body },
    error: null,
  });
}

/** One line of a batch's error file: an HTTP-style failure, or a request that never ran (expired, cancelled). */
export function errorLine(task: TaskRecord): string {
  const id = `batch_req_${task.id}`;
  if (task.status === "EXPIRED" || (task.status === "CANCELLED" && task.attempts === 0)) {
    const error =
      task.status === "EXPIRED"
        ? { code: "batch_expired", message: "This request could not be executed before the completion window expired." }
        : { code: "batch_cancelled", message: "This request was cancelled before it ran." };
    return JSON.stringify({ id, custom_id: task.customId, response: null, error });
  }
  const failure = unfinishedTaskError(task);
  return JSON.stringify({
    id,
    custom_id: task.customId,
    response: { status_code: failure.status, request_id: task.id, body: openAIErrorBody(failure) },
    error: null,
  });
}
