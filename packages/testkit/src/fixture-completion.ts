import type { ServerResponse } from "node:http";
import type { FixtureBehaviour } from "./fixture-behaviour";

/** What the fixture will answer to one chat-completions request. */
export interface CompletionPlan {
  id: string;
  model: string;
  /** Content tokens, each a word with its leading whitespace. */
  pieces: string[];
  /** Set when the request offered tools: the fixture calls the first one instead of writing text. */
  toolName: string | null;
  finishReason: "stop" | "length" | "tool_calls";
  promptTokens: number;
  stream: boolean;
  includeUsage: boolean;
}

/** The connection hooks a writer needs: whether the client left, how to wait, how to cut the connection. */
export interface Connection {
  closed(): boolean;
  /** Waits `ms`, waking early when the connection closes; resolves whether it is still open. */
  sleep(ms: number): Promise<boolean>;
  reset(): void;
}

let nextId = 1;

/** Decides the answer: `reply` split into word tokens, clipped by max_tokens and stop like a real server. */
export function planCompletion(body: Record<string, unknown>, reply: string): CompletionPlan {
  const tools = Array.isArray(body.tools) ? (body.tools as Array<{ function?: { name?: unknown } }>) : [];
  const toolName = tools.length > 0 ? String(tools[0]?.function?.name ?? "tool") : null;
  const maxTokens = numberOr(body.max_completion_tokens, numberOr(body.max_tokens, Infinity));
  const stops = (Array.isArray(body.stop) ? body.stop : [body.stop]).filter((s): s is string => typeof s === "string" && s !== "");

  let pieces = tokenize(reply);
  let finishReason: CompletionPlan["finishReason"] = "stop";
  if (pieces.length > maxTokens) {
    pieces = pieces.slice(0, maxTokens);
    finishReason = "length";
  }
  const text = pieces.join("");
  const cut = Math.min(...stops.map((stop) => text.indexOf(stop)).filter((at) => at !== -1));
  if (Number.isFinite(cut)) {
    pieces = tokenize(text.slice(0, cut));
    finishReason = "stop";
  }
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  return {
    id: `chatcmpl-fixture-${nextId++}`,
    model: typeof body.model === "string" ? body.model : "fixture-model",
    pieces: toolName ? [] : pieces,
    toolName,
    finishReason: toolName ? "tool_calls" : finishReason,
    promptTokens: promptTokens(body.messages),
    stream: body.stream === true,
    includeUsage: streamOptions?.include_usage === true,
  };
}

/** Writes the plan as server-sent `chat.completion.chunk` frames, misbehaving as `behaviour` says. */
export async function writeStream(res: ServerResponse, plan: CompletionPlan, behaviour: FixtureBehaviour, connection: Connection): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.flushHeaders();
  const out = new StreamWriter(res, connection, behaviour.splitFrames);
  const eol = behaviour.crlf ? "\r\n" : "\n";
  const frame = (data: unknown): void => {
    const comment = behaviour.comments ? `: fixture comment${eol}` : "";
    out.write(`${comment}data: ${typeof data === "string" ? data : JSON.stringify(data)}${eol}${eol}`);
  };
  const padding = behaviour.framePadding ? { system_fingerprint: "p".repeat(behaviour.framePadding) } : {};
  const chunk = (delta: unknown, finishReason: string | null = null) => ({
    id: plan.id,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: plan.model,
    ...padding,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });

  if (!(await pause(behaviour.firstTokenDelayMs, connection))) return;
  frame(chunk({ role: "assistant", content: "" }));
  for (let index = 0; index <= plan.pieces.length; index++) {
    // Misbehaviours trigger after N tokens, or after the last one when the reply is shorter.
    if (interrupt(index, plan.pieces.length, behaviour, out, frame)) return out.done();
    const piece = plan.pieces[index];
    if (piece === undefined) break;
    if (index > 0 && !(await pause(behaviour.tokenDelayMs, connection))) return;
    frame(chunk({ content: piece }));
  }
  if (plan.toolName) {
    frame(chunk({ tool_calls: [{ index: 0, id: `call_${plan.id}`, type: "function", function: { name: plan.toolName, arguments: "" } }] }));
    frame(chunk({ tool_calls: [{ index: 0, function: { arguments: "{}" } }] }));
  }
  frame(chunk({}, plan.finishReason));
  if (plan.includeUsage) frame({ ...chunk({}), choices: [], usage: usageOf(plan) });
  if (!behaviour.omitDone) frame("[DONE]");
  out.end();
  await out.done();
}

/** Writes in order, whole or `splitBytes` at a time with a pause between pieces; ending and resetting wait their turn. */
class StreamWriter {
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly res: ServerResponse,
    private readonly connection: Connection,
    private readonly splitBytes: number | undefined,
  ) {
    if (splitBytes) res.socket?.setNoDelay(true);
  }

  write(text: string): void {
    const bytes = Buffer.from(text, "utf8");
    const size = this.splitBytes || bytes.length;
    for (let start = 0; start < bytes.length; start += size) {
      const piece = bytes.subarray(start, start + size);
      this.then(async () => {
        this.res.write(piece);
        if (this.splitBytes) await this.connection.sleep(2);
      });
    }
  }

  end(): void {
    this.then(async () => void this.res.end());
  }

  reset(): void {
    this.then(async () => this.connection.reset());
  }

  done(): Promise<void> {
    return this.pending;
  }

  private then(step: () => Promise<void>): void {
    this.pending = this.pending.then(() => (this.connection.closed() ? undefined : step()));
  }
}

/**
 * Writes the plan as one `chat.completion` object, once it would have been generated: after the first
 * token's delay and every later token's, as a real server answers a non-streamed request. A misbehaviour
 * after N tokens happens once N tokens' time has passed: a stall never answers, a reset cuts the
 * connection, a malformed one sends a body cut short, an error one a 200 with an `{"error": ...}` body,
 * an early end an empty body.
 */
export async function writeJson(res: ServerResponse, plan: CompletionPlan, behaviour: FixtureBehaviour, connection: Connection): Promise<void> {
  const total = plan.pieces.length;
  const afters = [behaviour.stallAfterTokens, behaviour.resetAfterTokens, behaviour.malformedAfterTokens, behaviour.errorFrameAfterTokens, behaviour.endAfterTokens];
  const cutAt = Math.min(total, ...afters.filter((after): after is number => after !== undefined));
  if (!(await pause(behaviour.firstTokenDelayMs, connection))) return;
  if (!(await pause(behaviour.tokenDelayMs ? behaviour.tokenDelayMs * Math.max(0, cutAt - 1) : 0, connection))) return;
  if (behaviour.stallAfterTokens !== undefined) return;
  if (behaviour.resetAfterTokens !== undefined) return connection.reset();
  if (behaviour.malformedAfterTokens !== undefined || behaviour.errorFrameAfterTokens !== undefined || behaviour.endAfterTokens !== undefined) {
    res.writeHead(200, { "content-type": "application/json" });
    if (behaviour.malformedAfterTokens !== undefined) return void res.end('{"id": "broken", "choices": [');
    if (behaviour.errorFrameAfterTokens !== undefined) return void res.end(JSON.stringify({ error: { message: "fixture failed mid-answer", type: "server_error", param: null, code: null } }));
    return void res.end();
  }
  const toolCalls = plan.toolName
    ? [{ id: `call_${plan.id}`, type: "function", function: { name: plan.toolName, arguments: "{}" } }]
    : undefined;
  const message = { role: "assistant", content: plan.toolName ? null : plan.pieces.join(""), tool_calls: toolCalls };
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      id: plan.id,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: plan.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
      usage: usageOf(plan),
    }),
  );
}

function interrupt(
  index: number,
  total: number,
  behaviour: FixtureBehaviour,
  out: StreamWriter,
  frame: (data: unknown) => void,
): boolean {
  const due = (after: number | undefined) => after !== undefined && index === Math.min(after, total);
  if (due(behaviour.stallAfterTokens)) return true;
  if (due(behaviour.resetAfterTokens)) {
    out.reset();
    return true;
  }
  if (due(behaviour.malformedAfterTokens)) frame('{"id": "broken", "choices": [');
  else if (due(behaviour.errorFrameAfterTokens)) {
    frame({ error: { message: "fixture failed mid-stream", type: "server_error", param: null, code: null } });
  } else if (!due(behaviour.endAfterTokens)) return false;
  out.end();
  return true;
}

// Resolves false when the client left while we waited, so writers stop.
async function pause(ms: number | undefined, connection: Connection): Promise<boolean> {
  return ms ? connection.sleep(ms) : !connection.closed();
}

function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

// Same rule as the simulated provider: words of every message plus 4 per message.
function promptTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  return messages.reduce<number>((sum, m: { content?: unknown }) => sum + contentText(m.content).split(/\s+/).filter(Boolean).length + 4, 0);
}

/** Text of a message's content, whether a string or OpenAI's array of parts. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part: { text?: unknown }) => (typeof part?.text === "string" ? part.text : "")).join("");
}

/** The usage a completion reports (OpenAI's fields). */
export function usageOf(plan: CompletionPlan) {
  const completion = plan.toolName ? 1 : plan.pieces.length;
  return { prompt_tokens: plan.promptTokens, completion_tokens: completion, total_tokens: plan.promptTokens + completion };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
