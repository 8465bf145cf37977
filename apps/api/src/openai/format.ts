import { type Choice, type ServiceTier, type TaskStatus, assertNever, isTaskId } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import { answeredModel } from "../services/served-model";

/** Same value on every answer: this deployment's configuration is the "system". */
export const SYSTEM_FINGERPRINT = "fp_llmq";

const CHAT_PREFIX = "chatcmpl-";
const TEXT_PREFIX = "cmpl-";

export function chatCompletionId(taskId: string): string {
  return CHAT_PREFIX + taskId;
}

export function textCompletionId(taskId: string): string {
  return TEXT_PREFIX + taskId;
}

/** The task behind a completion id (either kind), or null when it is not one of ours. */
export function taskIdOfCompletionId(id: string): string | null {
  const taskId = id.startsWith(CHAT_PREFIX) ? id.slice(CHAT_PREFIX.length) : id.startsWith(TEXT_PREFIX) ? id.slice(TEXT_PREFIX.length) : null;
  return taskId && isTaskId(taskId) ? taskId : null;
}

/** The task's lifecycle in OpenAI's batch/response words, for asynchronous use. */
export function openAIStatus(status: TaskStatus): string {
  switch (status) {
    case "PENDING":
      return "queued";
    case "RUNNING":
      return "in_progress";
    case "COMPLETED":
      return "completed";
    case "FAILED":
      return "failed";
    case "CANCELLED":
      return "cancelled";
    case "EXPIRED":
      return "expired";
    default:
      return assertNever(status);
  }
}

export function createdSeconds(task: TaskRecord): number {
  return Math.floor(task.createdAt.getTime() / 1000);
}

/** Every choice of the task; tasks from before choices were stored have just their response. */
export function choicesOf(task: TaskRecord): Choice[] {
  const stored = task.choices as Choice[] | null;
  if (stored && stored.length > 0) return stored;
  return [{ index: 0, text: task.response, finishReason: task.finishReason as Choice["finishReason"], toolCalls: [] }];
}

/** OpenAI has no "cancelled" finish reason; a stopped generation reads as "stop". */
export function finishReasonOf(choice: Choice): string | null {
  if (choice.finishReason === "cancelled") return "stop";
  return choice.finishReason;
}

export function usageOf(task: TaskRecord) {
  const prompt = task.promptTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: task.completionTokens, total_tokens: prompt + task.completionTokens };
}

/** The tier a task is served at, as answers say it (the column only ever holds one of the three). */
export function tierOf(task: TaskRecord): ServiceTier {
  return task.tier as ServiceTier;
}

/** Fields both completion objects share, around their choices. */
function completionFrame<O extends string, C>(task: TaskRecord, id: string, object: O, choices: C[]) {
  return {
    id,
    object,
    created: createdSeconds(task),
    model: answeredModel(task),
    choices,
    usage: usageOf(task),
    system_fingerprint: SYSTEM_FINGERPRINT,
    service_tier: tierOf(task),
    // Ours, for asynchronous use: where the task stands.
    status: openAIStatus(task.status),
    task_id: task.id,
  };
}

/** A finished (or, with `status`, an unfinished) task as a `chat.completion` object. */
export function chatCompletionObject(task: TaskRecord) {
  return completionFrame(
    task,
    chatCompletionId(task.id),
    "chat.completion" as const,
    choicesOf(task).map((choice) => ({
      index: choice.index,
      message: {
        role: "assistant" as const,
        content: choice.toolCalls.length > 0 && choice.text === "" ? null : choice.text,
        refusal: null,
        ...(choice.toolCalls.length > 0 ? { tool_calls: choice.toolCalls } : {}),
      },
      logprobs: null,
      finish_reason: finishReasonOf(choice),
    })),
  );
}

/** A task as a legacy `text_completion` object; with `echo` each choice starts with its prompt. */
export function textCompletionObject(task: TaskRecord) {
  const configs = task.configs as { prompts?: string[]; n?: number; echo?: boolean };
  const n = configs.n ?? 1;
  return completionFrame(
    task,
    textCompletionId(task.id),
    "text_completion" as const,
    choicesOf(task).map((choice) => ({
      text: (configs.echo ? (configs.prompts?.[Math.floor(choice.index / n)] ?? "") : "") + choice.text,
      index: choice.index,
      logprobs: null,
      finish_reason: finishReasonOf(choice),
    })),
  );
}
