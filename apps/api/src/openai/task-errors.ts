import { type AppError, ConflictError, ProviderError, type ProviderErrorKind, RateLimitError, ValidationError } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";

/**
 * Why a task did not complete, as the error the OpenAI SDK expects: an upstream's rejection of the
 * request is the caller's 400, its rate limits are 429, anything else on the upstream's side is 502.
 */
export function unfinishedTaskError(task: Pick<TaskRecord, "status" | "errorCode" | "errorMessage">): AppError {
  const message = task.errorMessage ?? `The task ended ${task.status.toLowerCase()}.`;
  if (task.status === "CANCELLED") return new ConflictError("The task was cancelled before it completed.", { code: "task_cancelled" });
  if (task.status === "EXPIRED") return new ConflictError("The task expired before it started.", { code: "task_expired" });
  switch (task.errorCode) {
    case "upstream_bad_request":
      return new ValidationError(message, { code: "upstream_bad_request" });
    case "rate_limited":
      return new RateLimitError(message, { retryAfterSeconds: 1 });
    case "quota_exceeded":
      return new RateLimitError(message, { code: "insufficient_quota" });
    default:
      return new ProviderError((task.errorCode ?? "upstream_server_error") as ProviderErrorKind, message, { retryable: false });
  }
}
