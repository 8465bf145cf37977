import type { ChatMessage } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import { choicesOf } from "../openai/format";
import { storedRequestOf } from "./format";

/**
 * A finished response's conversation, for a response that continues it (`previous_response_id`): its
 * messages without the system message of its own `instructions` (OpenAI does not carry instructions
 * over), then its output as an assistant message (its text, its tool calls). A response that itself
 * continued another already holds that one's conversation, so chains of any length come out whole.
 */
export function conversationOf(task: TaskRecord): ChatMessage[] {
  const messages = task.messages as unknown as ChatMessage[];
  const request = storedRequestOf(task);
  const withoutInstructions = request.instructions !== null && messages[0]?.role === "system" ? messages.slice(1) : messages;
  const choice = choicesOf(task)[0];
  const output: ChatMessage[] = [];
  if (choice && (choice.text !== "" || choice.toolCalls.length > 0)) {
    output.push({ role: "assistant", content: choice.text === "" ? null : choice.text, ...(choice.toolCalls.length > 0 ? { tool_calls: choice.toolCalls } : {}) });
  }
  return [...withoutInstructions, ...output];
}
