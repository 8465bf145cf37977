import type { Choice, FinishReason, StreamPiece, ToolCall, Usage } from "@llmq/core";
import type { ProviderEvent } from "@llmq/providers";

/** What one choice has generated so far; tool calls are assembled from their streamed pieces. */
export class ChoiceState {
  text = "";
  tokens = 0;
  finishReason: FinishReason | null = null;
  usage: Usage | null = null;
  private readonly calls: ToolCall[] = [];
  /** The streamed pieces, one per delta and tool call event (Choice.pieces), when the task keeps them. */
  private readonly pieces: StreamPiece[] | null;

  /** `keepPieces`: the task's configs ask for its pieces (`keep_pieces`, Responses API tasks). */
  constructor(
    readonly index: number,
    keepPieces = false,
  ) {
    this.pieces = keepPieces ? [] : null;
  }

  /** Applies one provider event (deltas count one token each, as upstreams send about one per chunk, unless they say more). */
  apply(event: ProviderEvent): void {
    switch (event.type) {
      case "delta":
        this.text += event.text;
        this.tokens += event.tokens ?? 1;
        // Each delta is one token event of the task's stream: one piece, so a replay cuts the same deltas.
        this.pieces?.push(event.text.length);
        break;
      case "tool_call": {
        const call = (this.calls[event.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
        if (event.id) call.id = event.id;
        if (event.name) call.function.name += event.name;
        if (event.arguments) call.function.arguments += event.arguments;
        this.tokens += 1;
        this.pieces?.push([event.index, event.arguments?.length ?? 0]);
        break;
      }
      case "done":
        this.finishReason = event.finishReason;
        this.usage = event.usage;
        break;
    }
  }

  /** Tokens the upstream says it generated, else the ones we counted. */
  get completionTokens(): number {
    return this.usage?.completionTokens ?? this.tokens;
  }

  /** The choice as the task row keeps it (checkpoints, completion, a cancelled attempt's output); pieces copied, as a checkpoint is written while more arrive. */
  toChoice(): Choice {
    const choice: Choice = { index: this.index, text: this.text, finishReason: this.finishReason, toolCalls: this.calls.filter(Boolean) };
    if (this.pieces) choice.pieces = [...this.pieces];
    return choice;
  }
}
