import type { ChatMessage } from "@llmq/core";
import { z } from "zod";
import type { StoredResponseRequest } from "./response-task-input";

/**
 * What an upstream's own Responses API is sent of a response task's stored request (`configs.responses`,
 * written by responseTaskInput): read back by the worker with this schema.
 */
export const upstreamResponseFieldsSchema = z.object({
  instructions: z.string().nullable(),
  text: z.object({ format: z.record(z.string(), z.unknown()) }),
  tools: z.array(z.record(z.string(), z.unknown())),
  tool_choice: z.union([z.string(), z.record(z.string(), z.unknown())]),
  parallel_tool_calls: z.boolean(),
});
export type UpstreamResponseFields = Pick<StoredResponseRequest, "instructions" | "text" | "tools" | "tool_choice" | "parallel_tool_calls">;

/** A chat message as Responses API input items: function calls and their outputs become items of their own. */
function inputItems(message: ChatMessage): Record<string, unknown>[] {
  if (message.role === "tool") return [{ type: "function_call_output", call_id: message.tool_call_id ?? "", output: message.content ?? "" }];
  const items: Record<string, unknown>[] = [];
  if (message.content !== null || !message.tool_calls?.length) items.push({ type: "message", role: message.role, content: message.content ?? "" });
  for (const call of message.tool_calls ?? []) items.push({ type: "function_call", call_id: call.id, name: call.function.name, arguments: call.function.arguments });
  return items;
}

function withoutNulls(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null && value !== undefined));
}

/**
 * A response task as a request to an upstream's own `POST /v1/responses` (sampling fields, model and
 * `stream` are the provider's): the original instructions, the task's conversation as input items (the
 * history of previous_response_id included, the instructions' system message left out), tools in the
 * Responses shape, `text.format`, tool choice. The inverse of responseTaskInput's mapping to messages.
 */
export function responseUpstreamRequest(messages: readonly ChatMessage[], stored: UpstreamResponseFields): Record<string, unknown> {
  const first = messages[0];
  const own = stored.instructions !== null && first?.role === "system" && first.content === stored.instructions ? messages.slice(1) : messages;
  const tools = stored.tools.map(withoutNulls);
  return withoutNulls({
    instructions: stored.instructions,
    input: own.flatMap(inputItems),
    text: stored.text,
    tools: tools.length > 0 ? tools : undefined,
    tool_choice: tools.length > 0 ? stored.tool_choice : undefined,
    parallel_tool_calls: tools.length > 0 ? stored.parallel_tool_calls : undefined,
  });
}
