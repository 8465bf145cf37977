import { type Choice, RESPONSE_ID_PREFIX, isTaskId, responseIdOf, responseStateOf } from "@llmq/core";
import type { ResponseObject, ResponseOutputItem, ResponseStatus, StoredResponseRequest } from "@llmq/contract";
import type { TaskRecord } from "@llmq/db";
import { choicesOf, createdSeconds } from "../openai/format";
import { answeredModel } from "../services/served-model";

/** The task behind a response id, or null when it is not one of ours. */
export function taskIdOfResponseId(id: string): string | null {
  const taskId = id.startsWith(RESPONSE_ID_PREFIX) ? id.slice(RESPONSE_ID_PREFIX.length) : null;
  return taskId && isTaskId(taskId) ? taskId : null;
}

/** What the task kept of its Responses request (configs.responses). */
export function storedRequestOf(task: Pick<TaskRecord, "configs">): StoredResponseRequest {
  return (task.configs as { responses: StoredResponseRequest }).responses;
}

/** A response's status from its task's (core's responseStateOf, which the response webhooks use too). */
export const responseStatusOf: (task: Pick<TaskRecord, "status" | "finishReason">) => ResponseStatus = responseStateOf;

/** Item ids are the task's: the same on every read, in every process. */
export function messageItemId(taskId: string): string {
  return `msg_${taskId}`;
}
export function functionCallItemId(taskId: string, index: number): string {
  return `fc_${taskId}_${index}`;
}

/**
 * The output items of a choice, in the order they were first streamed (text first when the order is
 * not known): a message with one output_text part when there is text, then one item per tool call.
 */
export function outputItemsOf(taskId: string, choice: Choice, itemStatus: "in_progress" | "completed" | "incomplete"): ResponseOutputItem[] {
  const message = (): ResponseOutputItem => ({
    id: messageItemId(taskId),
    type: "message",
    status: itemStatus,
    role: "assistant",
    content: [{ type: "output_text", text: choice.text, annotations: [], logprobs: [] }],
  });
  const call = (index: number): ResponseOutputItem => {
    const toolCall = choice.toolCalls[index]!;
    return { id: functionCallItemId(taskId, index), type: "function_call", status: itemStatus, call_id: toolCall.id, name: toolCall.function.name, arguments: toolCall.function.arguments };
  };
  const order: ("text" | number)[] = [];
  for (const piece of choice.pieces ?? []) {
    const key = typeof piece === "number" ? "text" : piece[0];
    if (!order.includes(key)) order.push(key);
  }
  if (choice.text !== "" && !order.includes("text")) order.unshift("text");
  choice.toolCalls.forEach((_, index) => {
    if (!order.includes(index)) order.push(index);
  });
  return order.filter((key) => key !== "text" || choice.text !== "").map((key) => (key === "text" ? message() : call(key)));
}

/** A task as OpenAI's response object: as it stands, or as it ended. */
export function responseObject(task: TaskRecord, queue?: { position: number | null; eta_seconds: number | null } | null): ResponseObject {
  const request = storedRequestOf(task);
  const status = responseStatusOf(task);
  const final = status !== "queued" && status !== "in_progress";
  const choice = choicesOf(task)[0]!;
  const itemStatus = status === "completed" ? "completed" : final ? "incomplete" : "in_progress";
  const prompt = task.promptTokens ?? 0;
  return {
    id: responseIdOf(task.id),
    object: "response",
    created_at: createdSeconds(task),
    status,
    background: request.background,
    error: status === "failed" ? { code: task.errorCode ?? (task.status === "EXPIRED" ? "expired" : "server_error"), message: task.errorMessage ?? `The response ${task.status === "EXPIRED" ? "expired before it started" : "failed"}.` } : null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: request.instructions,
    max_output_tokens: request.max_output_tokens,
    metadata: request.metadata,
    model: answeredModel(task),
    output: status === "queued" ? [] : outputItemsOf(task.id, choice, itemStatus),
    parallel_tool_calls: request.parallel_tool_calls,
    previous_response_id: request.previous_response_id,
    service_tier: request.service_tier,
    store: request.store,
    temperature: (task.configs as { temperature?: number }).temperature ?? null,
    text: { format: request.text.format, verbosity: request.text.verbosity ?? "medium" },
    max_tool_calls: null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    safety_identifier: request.safety_identifier ?? null,
    top_logprobs: 0,
    tool_choice: request.tool_choice,
    tools: request.tools,
    top_p: (task.configs as { top_p?: number }).top_p ?? null,
    truncation: request.truncation,
    usage: final ? { input_tokens: prompt, input_tokens_details: { cached_tokens: 0 }, output_tokens: task.completionTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt + task.completionTokens } : null,
    user: request.user,
    reasoning: { effort: null, summary: null },
    task_id: task.id,
    ...(queue !== undefined ? { queue } : {}),
  };
}
