import type { StreamPiece, ToolCall } from "@llmq/core";
import type { ResponseStreamEvent, UnnumberedResponseEvent } from "./response-events";
import type { ResponseObject, ResponseOutputItem } from "./responses-api";

/** What the sequencer needs of a response besides its output (all of it deterministic: the same on every read). */
export interface ResponseSequencerOptions {
  /** Created with `background: true`: `response.queued` follows `response.created`. */
  background: boolean;
  /** The id of the message item (the task's, see apps/api responses/format.ts). */
  messageItemId: string;
  /** The id of function call item `index`. */
  functionCallItemId(index: number): string;
  /**
   * The response object at a moment before its end, as retrieve showed it then: `queued` (for
   * `response.created` and `response.queued`) or `in_progress` with no output yet (`response.in_progress`).
   */
  snapshot(status: "queued" | "in_progress"): ResponseObject;
  /** Pad delta events with `obfuscation` (only when the caller asked). */
  obfuscate?: boolean;
}

/** A response as it ended: its final object and the output it was built from. */
export interface ResponseEnd {
  /** The response object as retrieve shows it (a final status). */
  response: ResponseObject;
  /** Whether an attempt ever started (`response.in_progress` was due). */
  ran: boolean;
  /** The choice's text, tool calls and streamed pieces (Choice.pieces; absent: text first, then each call whole). */
  text: string;
  toolCalls: readonly Pick<ToolCall, "id" | "function">[];
  pieces: readonly StreamPiece[] | undefined;
}

type ItemKey = "text" | number;

/**
 * Turns a response's life into OpenAI's Responses events, numbered 0, 1, 2, ...: `response.created`,
 * `response.queued` (background only), `response.in_progress` (once, when an attempt first starts), then
 * per output item in order of first appearance its `output_item.added` (and, for a message,
 * `content_part.added`) and its deltas, one per streamed piece; at the end each item's done events in
 * order, then `response.completed` | `response.incomplete` (also a cancelled response) | `response.failed`
 * carrying the final response object.
 *
 * Fed live (begin, inProgress, text, toolCall, end) or all at once from a finished response (replay), the
 * same output gives the same events and numbers: a live delta is one piece, and a replayed piece is cut
 * from the final text by its recorded length. What a live stream missed is filled in from the end's pieces
 * at `end`, so a live stream ends exactly as its replay does. Pure: no I/O, safe in a browser.
 */
export class ResponseEventSequencer {
  private next = 0;
  private begun = false;
  private running = false;
  private ended = false;
  private readonly items: ItemKey[] = [];
  /** Pieces applied so far (live deltas count one each, empty ones too). */
  private pieces = 0;
  private textSent = 0;
  private readonly argumentsSent = new Map<number, number>();

  constructor(private readonly options: ResponseSequencerOptions) {}

  /** Every event of a finished response, from 0. */
  static replay(options: ResponseSequencerOptions, end: ResponseEnd): ResponseStreamEvent[] {
    const sequencer = new ResponseEventSequencer(options);
    return [...sequencer.begin(), ...sequencer.end(end)];
  }

  /** The number the next event will carry. */
  get nextSequenceNumber(): number {
    return this.next;
  }

  /** `response.created` (and `response.queued` in the background); once. */
  begin(): ResponseStreamEvent[] {
    if (this.begun) return [];
    this.begun = true;
    const out: ResponseStreamEvent[] = [];
    this.push(out, { type: "response.created", response: this.options.snapshot("queued") });
    if (this.options.background) this.push(out, { type: "response.queued", response: this.options.snapshot("queued") });
    return out;
  }

  /** An attempt started: `response.in_progress`, the first time only. */
  inProgress(): ResponseStreamEvent[] {
    const out = this.begin();
    if (this.running || this.ended) return out;
    this.running = true;
    this.push(out, { type: "response.in_progress", response: this.options.snapshot("in_progress") });
    return out;
  }

  /** A text delta of the attempt being shown (one piece). */
  text(delta: string): ResponseStreamEvent[] {
    if (this.ended) return [];
    const out = this.inProgress();
    this.pieces++;
    this.sendText(out, delta);
    return out;
  }

  /** A piece of tool call `index` of the attempt being shown (its id and name when first seen). */
  toolCall(index: number, id: string | undefined, name: string | undefined, args: string | undefined): ResponseStreamEvent[] {
    if (this.ended) return [];
    const out = this.inProgress();
    this.pieces++;
    this.sendCall(out, index, { id: id ?? "", function: { name: name ?? "", arguments: "" } }, args ?? "");
    return out;
  }

  /**
   * The response ended: the pieces not seen live (cut from the final output), any output they do not
   * cover, each item's done events, then the final event. Once.
   */
  end(end: ResponseEnd): ResponseStreamEvent[] {
    if (this.ended) return [];
    const out = this.begin();
    if (end.ran) out.push(...this.inProgress());
    const pieces = end.pieces ?? wholePieces(end);
    for (const piece of pieces.slice(this.pieces)) {
      if (typeof piece === "number") this.sendText(out, end.text.slice(this.textSent, this.textSent + piece));
      else {
        const [index, length] = piece;
        const call = end.toolCalls[index];
        if (!call) continue;
        const sent = this.argumentsSent.get(index) ?? 0;
        this.sendCall(out, index, call, call.function.arguments.slice(sent, sent + length));
      }
    }
    this.pieces = Math.max(this.pieces, pieces.length);
    // Output no piece covers (pieces not recorded, or fewer than the output): its rest, as one delta each.
    if (end.text.length > this.textSent) this.sendText(out, end.text.slice(this.textSent));
    end.toolCalls.forEach((call, index) => {
      const sent = this.argumentsSent.get(index) ?? 0;
      if (!this.items.includes(index) || call.function.arguments.length > sent) this.sendCall(out, index, call, call.function.arguments.slice(sent));
    });
    this.ended = true;
    this.items.forEach((key, outputIndex) => this.sendDone(out, key, outputIndex, end));
    const { response } = end;
    const type = response.status === "completed" ? "response.completed" : response.status === "failed" ? "response.failed" : "response.incomplete";
    this.push(out, { type, response });
    return out;
  }

  /** A live stream that cannot go on (a retry after output was sent): an `error` event, after which nothing more is sent. */
  interrupted(code: string, message: string): ResponseStreamEvent[] {
    if (this.ended) return [];
    this.ended = true;
    const out: ResponseStreamEvent[] = [];
    this.push(out, { type: "error", code, message, param: null });
    return out;
  }

  private sendText(out: ResponseStreamEvent[], delta: string): void {
    if (delta === "") return;
    const item_id = this.options.messageItemId;
    let output_index = this.items.indexOf("text");
    if (output_index < 0) {
      output_index = this.items.push("text") - 1;
      this.push(out, { type: "response.output_item.added", output_index, item: { id: item_id, type: "message", status: "in_progress", role: "assistant", content: [] } });
      this.push(out, { type: "response.content_part.added", item_id, output_index, content_index: 0, part: { type: "output_text", text: "", annotations: [], logprobs: [] } });
    }
    this.textSent += delta.length;
    this.push(out, { type: "response.output_text.delta", item_id, output_index, content_index: 0, delta, logprobs: [], ...this.padding(delta) });
  }

  private sendCall(out: ResponseStreamEvent[], index: number, call: Pick<ToolCall, "id" | "function">, delta: string): void {
    const item_id = this.options.functionCallItemId(index);
    let output_index = this.items.indexOf(index);
    if (output_index < 0) {
      output_index = this.items.push(index) - 1;
      this.push(out, {
        type: "response.output_item.added",
        output_index,
        item: { id: item_id, type: "function_call", status: "in_progress", call_id: call.id, name: call.function.name, arguments: "" },
      });
    }
    if (delta === "") return;
    this.argumentsSent.set(index, (this.argumentsSent.get(index) ?? 0) + delta.length);
    this.push(out, { type: "response.function_call_arguments.delta", item_id, output_index, delta, ...this.padding(delta) });
  }

  private sendDone(out: ResponseStreamEvent[], key: ItemKey, output_index: number, end: ResponseEnd): void {
    const item = finalItem(key, end, key === "text" ? this.options.messageItemId : this.options.functionCallItemId(key));
    if (item.type === "message") {
      const part = item.content[0] ?? { type: "output_text" as const, text: "", annotations: [], logprobs: [] };
      const indexes = { item_id: item.id, output_index, content_index: 0 };
      this.push(out, { type: "response.output_text.done", ...indexes, text: part.text, logprobs: [] });
      this.push(out, { type: "response.content_part.done", ...indexes, part });
    } else {
      this.push(out, { type: "response.function_call_arguments.done", item_id: item.id, output_index, arguments: item.arguments });
    }
    this.push(out, { type: "response.output_item.done", output_index, item });
  }

  /** `obfuscation`: a pad of 1 to 16 characters, its length from the event's number and the delta (the same on every replay). */
  private padding(delta: string): { obfuscation?: string } {
    if (!this.options.obfuscate) return {};
    let hash = 2166136261 ^ this.next;
    for (let i = 0; i < delta.length; i++) hash = Math.imul(hash ^ delta.charCodeAt(i), 16777619);
    const length = 1 + ((hash >>> 0) % 16);
    return { obfuscation: PAD.slice(0, length) };
  }

  private push(out: ResponseStreamEvent[], event: UnnumberedResponseEvent): void {
    out.push({ ...event, sequence_number: this.next++ } as ResponseStreamEvent);
  }
}

const PAD = "a1b2c3d4e5f6g7h8";

/** Pieces of an output streamed whole (no pieces recorded): the text, then each call's arguments. */
function wholePieces(end: ResponseEnd): StreamPiece[] {
  const pieces: StreamPiece[] = end.text === "" ? [] : [end.text.length];
  end.toolCalls.forEach((call, index) => pieces.push([index, call.function.arguments.length]));
  return pieces;
}

/** An item as the response ended: from its final object, else from the choice. */
function finalItem(key: ItemKey, end: ResponseEnd, id: string): ResponseOutputItem {
  const found = end.response.output.find((item) => item.id === id);
  if (found) return found;
  const status = end.response.status === "completed" ? "completed" : "incomplete";
  if (key === "text") return { id, type: "message", status, role: "assistant", content: [{ type: "output_text", text: end.text, annotations: [], logprobs: [] }] };
  const call = end.toolCalls[key]!;
  return { id, type: "function_call", status, call_id: call.id, name: call.function.name, arguments: call.function.arguments };
}
