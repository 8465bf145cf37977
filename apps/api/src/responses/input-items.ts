import type { ChatMessage } from "@llmq/core";
import type { ResponseInputItemList, ResponseInputItemsQuery, ResponseInputListItem } from "@llmq/contract";
import type { TaskRecord } from "@llmq/db";
import { ValidationError } from "@llmq/core";
import { storedRequestOf } from "./format";

/**
 * A response's own input items (`configs.responses.input_messages`: the last messages of its task; the
 * instructions and a previous response's conversation come before them), in input order. Ids are derived
 * from the task and the item's place, so they are the same on every read.
 */
export function inputItemsOf(task: TaskRecord): ResponseInputListItem[] {
  const messages = task.messages as unknown as ChatMessage[];
  const own = messages.slice(messages.length - storedRequestOf(task).input_messages);
  const items: ResponseInputListItem[] = [];
  const id = (prefix: string) => `${prefix}_${task.id}_${items.length}`;
  for (const message of own) {
    if (message.role === "tool") {
      items.push({ id: id("fco"), type: "function_call_output", status: "completed", call_id: message.tool_call_id ?? "", output: message.content ?? "" });
      continue;
    }
    if (message.content !== null && (message.content !== "" || !message.tool_calls?.length)) {
      const role = message.role === "assistant" ? "assistant" : message.role === "system" || message.role === "developer" ? message.role : "user";
      items.push({ id: id("msg"), type: "message", role, status: "completed", content: [{ type: role === "assistant" ? "output_text" : "input_text", text: message.content }] });
    }
    for (const call of message.tool_calls ?? []) {
      items.push({ id: id("fc"), type: "function_call", status: "completed", call_id: call.id, name: call.function.name, arguments: call.function.arguments });
    }
  }
  return items;
}

/** One page of items in OpenAI's list shape: `order` (default newest first), after the item `after`, `limit` of them. */
export function inputItemPage(items: ResponseInputListItem[], query: ResponseInputItemsQuery): ResponseInputItemList {
  const ordered = query.order === "asc" ? items : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at === -1) throw new ValidationError(`after: '${query.after}' is not an input item of this response.`, { param: "after" });
    start = at + 1;
  }
  const data = ordered.slice(start, start + query.limit);
  return { object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + data.length < ordered.length };
}
