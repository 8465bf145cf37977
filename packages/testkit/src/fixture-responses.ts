import type { ServerResponse } from "node:http";
import type { FixtureBehaviour } from "./fixture-behaviour";
import { type CompletionPlan, type Connection, contentText } from "./fixture-completion";

type Item = Record<string, unknown>;

/**
 * A `POST /v1/responses` body in chat-completions terms, so the fixture plans its answer the same way:
 * instructions as a system message, input items as messages (function call outputs as tool messages),
 * function tools in the chat shape, `max_output_tokens` as `max_tokens`.
 */
export function chatBodyOfResponses(body: Record<string, unknown>): Record<string, unknown> {
  const input = typeof body.input === "string" ? [{ role: "user", content: body.input }] : Array.isArray(body.input) ? (body.input as Item[]) : [];
  const messages = [
    ...(typeof body.instructions === "string" ? [{ role: "system", content: body.instructions }] : []),
    ...input.map((item) =>
      item.type === "function_call_output"
        ? { role: "tool", content: contentText(item.output), tool_call_id: item.call_id }
        : item.type === "function_call"
          ? { role: "assistant", content: null, tool_calls: [{ id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } }] }
          : { role: item.role, content: contentText(item.content) },
    ),
  ];
  const tools = Array.isArray(body.tools) ? (body.tools as Item[]).filter((tool) => tool.type === "function").map((tool) => ({ type: "function", function: { name: tool.name } })) : [];
  return {
    model: body.model,
    messages,
    ...(tools.length > 0 ? { tools } : {}),
    ...(typeof body.max_output_tokens === "number" ? { max_tokens: body.max_output_tokens } : {}),
    stream: body.stream === true,
  };
}

/**
 * Writes the plan as OpenAI's Responses API event stream (`event:` + `data:` frames, each with its
 * `type` and a `sequence_number`, no `[DONE]`): created, in_progress, the message item with its text part
 * and `response.output_text.delta`s (or a function call item with `response.function_call_arguments.delta`s),
 * then `response.completed`, or `response.incomplete` (max_output_tokens) when the reply was cut.
 * `errorFrameAfterTokens` sends `response.failed` (code `errorCode`, default server_error) instead.
 */
export async function writeResponsesStream(res: ServerResponse, plan: CompletionPlan, behaviour: FixtureBehaviour, connection: Connection): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.flushHeaders();
  let sequence = 0;
  const send = (type: string, fields: Item): void => {
    if (!connection.closed()) res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`);
  };
  const id = plan.id.replace("chatcmpl-", "resp_");
  const response = (status: string, output: Item[], extra: Item = {}): Item => ({
    id,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    status,
    model: plan.model,
    output,
    error: null,
    incomplete_details: null,
    usage: null,
    ...extra,
  });
  const pause = async (ms: number | undefined) => (ms ? connection.sleep(ms) : !connection.closed());

  send("response.created", { response: response("in_progress", []) });
  send("response.in_progress", { response: response("in_progress", []) });
  if (!(await pause(behaviour.firstTokenDelayMs))) return;

  let item: Item;
  if (plan.toolName) {
    const args = ["{", "}"];
    item = { id: `fc_${id}`, type: "function_call", status: "in_progress", arguments: "", call_id: `call_${id}`, name: plan.toolName };
    send("response.output_item.added", { output_index: 0, item });
    for (const delta of args) send("response.function_call_arguments.delta", { item_id: item.id, output_index: 0, delta });
    send("response.function_call_arguments.done", { item_id: item.id, output_index: 0, arguments: args.join("") });
    item = { ...item, status: "completed", arguments: args.join("") };
  } else {
    item = { id: `msg_${id}`, type: "message", status: "in_progress", role: "assistant", content: [] };
    send("response.output_item.added", { output_index: 0, item });
    const location = { item_id: item.id, output_index: 0, content_index: 0 };
    send("response.content_part.added", { ...location, part: { type: "output_text", text: "", annotations: [] } });
    let text = "";
    for (const [index, piece] of plan.pieces.entries()) {
      if (behaviour.stallAfterTokens === index) return;
      if (behaviour.errorFrameAfterTokens === index) {
        const error = { code: behaviour.errorCode ?? "server_error", message: behaviour.errorMessage ?? "fixture failed mid-stream" };
        send("response.failed", { response: response("failed", [], { error }) });
        return void res.end();
      }
      if (index > 0 && !(await pause(behaviour.tokenDelayMs))) return;
      send("response.output_text.delta", { ...location, delta: piece, logprobs: [] });
      text += piece;
    }
    const part = { type: "output_text", text, annotations: [] };
    send("response.output_text.done", { ...location, text, logprobs: [] });
    send("response.content_part.done", { ...location, part });
    item = { ...item, status: plan.finishReason === "length" ? "incomplete" : "completed", content: [part] };
  }
  send("response.output_item.done", { output_index: 0, item });
  const output = plan.toolName ? 1 : plan.pieces.length;
  const usage = {
    input_tokens: plan.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: plan.promptTokens + output,
  };
  if (plan.finishReason === "length") send("response.incomplete", { response: response("incomplete", [item], { usage, incomplete_details: { reason: "max_output_tokens" } }) });
  else send("response.completed", { response: response("completed", [item], { usage }) });
  res.end();
}
