import type { ChatMessage, GenerationParams } from "@llmq/core";
import type { Provider, ProviderEvent } from "../src";

/** Everything one stream produced. */
export interface Collected {
  text: string;
  deltas: string[];
  done: Extract<ProviderEvent, { type: "done" }>;
}

/** Runs a stream to the end and gathers its events; asserts the `done` event comes exactly once, last. */
export async function collect(
  provider: Provider,
  messages: ChatMessage[],
  params: Partial<GenerationParams> = {},
  signal: AbortSignal = new AbortController().signal,
  model = "test-model",
): Promise<Collected> {
  const deltas: string[] = [];
  let done: Collected["done"] | null = null;
  for await (const event of provider.stream({ model, messages, params: { maxTokens: 1024, ...params } }, signal)) {
    if (done) throw new Error("event after done");
    if (event.type === "delta") deltas.push(event.text);
    else if (event.type === "done") done = event;
  }
  if (!done) throw new Error("stream ended without done");
  return { text: deltas.join(""), deltas, done };
}

/** The error a stream fails with (fails the test if it succeeds). */
export async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error("expected the stream to fail");
}

/** A user message. */
export const user = (content: string): ChatMessage => ({ role: "user", content });
