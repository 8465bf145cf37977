import type { SimulatedProviderConfig } from "@llmq/core";
import { abortableSleep } from "./abortable-sleep";
import type { Provider, ProviderEvent, ProviderRequest } from "./provider";
import { simulatedPromptTokens, simulatedTokens } from "./simulated-text";
import { StopSequenceFilter } from "./stop-sequences";

// Timers cannot fire sooner than about 1 ms, so shorter waits are skipped and tokens go out in batches.
const MIN_SLEEP_MS = 1;

/** A provider with no network: deterministic prose paced like a real model, for demos and tests. */
export class SimulatedProvider implements Provider {
  readonly type = "simulated";

  constructor(private readonly config: SimulatedProviderConfig) {}

  /** Yields the prompt's simulated completion token by token; see Provider for the contract. */
  async *stream(request: ProviderRequest, signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    signal.throwIfAborted();
    const tokens = simulatedTokens(request.messages, request.params, request.choice);
    const limit = Math.min(tokens.length, Math.max(0, request.params.maxTokens));
    const filter = new StopSequenceFilter(request.params.stop ?? []);
    const usage = (completionTokens: number) => ({ promptTokens: simulatedPromptTokens(request.messages), completionTokens });

    if (this.config.first_token_ms > 0) await abortableSleep(this.config.first_token_ms, signal);
    // Each token is due at a fixed offset from the first, so timer lateness never accumulates.
    const startedAt = performance.now();
    const interval = 1000 / this.config.tokens_per_second;
    for (let index = 0; index < limit; index++) {
      const wait = startedAt + index * interval - performance.now();
      if (wait >= MIN_SLEEP_MS) await abortableSleep(wait, signal);
      signal.throwIfAborted();
      const { text, stopped } = filter.push(tokens[index]!);
      if (text) yield { type: "delta", text };
      if (stopped) {
        yield { type: "done", finishReason: "stop", usage: usage(index + 1) };
        return;
      }
    }
    const rest = filter.flush();
    if (rest) yield { type: "delta", text: rest };
    yield { type: "done", finishReason: limit < tokens.length ? "length" : "stop", usage: usage(limit) };
  }
}
