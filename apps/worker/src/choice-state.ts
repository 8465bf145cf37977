import type { Choice, FinishReason, ToolCall, Usage } from "@llmq/core";
import type { ProviderEvent } from "@llmq/providers";

/** What one choice has generated so far; tool calls are assembled from their streamed pieces. */
export class ChoiceState {
  text = "";
  tokens = 0;
  finishReason: FinishReason | null = null;
  usage: Usage | null = null;
  private readonly calls: ToolCall[] = [];

  constructor(readonly index: number) {}

  /** Applies one provider event (deltas count one token each, as upstreams send about one per chunk). */
  apply(event: ProviderEvent): void {
    switch (event.type) {
      case "delta":
        this.text += event.text;
        this.tokens += 1;
        break;
      case "tool_call": {
        const call = (this.calls[event.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
        if (event.id) call.id = event.id;
        if (event.name) call.function.name += event.name;
        if (event.arguments) call.function.arguments += event.arguments;
        this.tokens += 1;
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

  toChoice(): Choice {
    return { index: this.index, text: this.text, finishReason: this.finishReason, toolCalls: this.calls.filter(Boolean) };
  }
}
