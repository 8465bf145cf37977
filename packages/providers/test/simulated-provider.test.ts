import type { SimulatedProviderConfig } from "@llmq/core";
import { SimulatedProvider, createProvider } from "../src";
import { collect, failure, user } from "./helpers";

const fast = (overrides: Partial<SimulatedProviderConfig> = {}) =>
  new SimulatedProvider({ type: "simulated", name: "sim", first_token_ms: 0, tokens_per_second: 1_000_000, ...overrides });

describe("SimulatedProvider", () => {
  it("is deterministic for the same messages and params", async () => {
    const a = await collect(fast(), [user("Tell me about queues")]);
    const b = await collect(fast(), [user("Tell me about queues")]);
    expect(a.text).toBe(b.text);
    expect(a.text.length).toBeGreaterThan(0);
  });

  it("writes different text for different prompts and seeds", async () => {
    const base = await collect(fast(), [user("Tell me about queues")]);
    const other = await collect(fast(), [user("Tell me about rivers")]);
    const seeded = await collect(fast(), [user("Tell me about queues")], { seed: 7 });
    expect(other.text).not.toBe(base.text);
    expect(seeded.text).not.toBe(base.text);
  });

  it("ends naturally with 'stop' after 40-400 tokens, one token per delta", async () => {
    for (const prompt of ["one", "two", "three", "four", "five"]) {
      const { done, deltas, text } = await collect(fast(), [user(prompt)], { maxTokens: 1024 });
      expect(done.finishReason).toBe("stop");
      expect(done.usage?.completionTokens).toBe(deltas.length);
      expect(deltas.length).toBeGreaterThanOrEqual(40);
      expect(deltas.length).toBeLessThanOrEqual(400);
      expect(text).toMatch(/^[A-Z].*\.$/);
      for (const delta of deltas.slice(1)) expect(delta).toMatch(/^ \S+$/);
    }
  });

  it("answers the prompt: a greeting with a greeting, a question about its subject, an instruction with its words", async () => {
    const greeting = await collect(fast(), [user("Hello, have a good day!")]);
    expect(greeting.text).toMatch(/^(Hello|Hi|Hey|Good (morning|day))\b/);
    expect(greeting.text.toLowerCase()).toContain("day");

    const question = await collect(fast(), [user("How does a message queue handle retries?")]);
    const answer = question.text.toLowerCase();
    for (const word of ["queue", "retries"]) expect(answer).toContain(word);

    const instruction = await collect(fast(), [user("Explain photosynthesis to a child")]);
    expect(instruction.text.toLowerCase()).toContain("photosynthesis");
    expect(instruction.text.toLowerCase()).toContain("child");

    // It reads as sentences: capitalised, each ended by a full stop, exclamation or question mark.
    for (const { text } of [greeting, question, instruction]) {
      for (const sentence of text.split(/(?<=[.!?])\s+/)) expect(sentence).toMatch(/^[A-Z"].*[.!?]$/);
    }
  });

  it("writes about as many words as asked for ('write 500 words'), until max_tokens", async () => {
    for (const [prompt, words] of [["Write 500 words about the history of tea", 500], ["Please write a story of 120 words about a lighthouse keeper", 120], ["write 1200 words on rivers", 1200]] as const) {
      const { done, text } = await collect(fast(), [user(prompt)], { maxTokens: 4096 });
      const count = text.split(/\s+/).filter(Boolean).length;
      expect(done.finishReason).toBe("stop");
      expect(count).toBeGreaterThanOrEqual(words * 0.9);
      expect(count).toBeLessThanOrEqual(words * 1.1);
      expect(text).toMatch(/[.!?]$/);
    }
    // A long answer still stops at max_tokens, as a real model's does.
    const capped = await collect(fast(), [user("Write 500 words about the history of tea")], { maxTokens: 100 });
    expect(capped.done.finishReason).toBe("length");
    expect(capped.done.usage?.completionTokens).toBe(100);
  });

  it("stops with 'length' at maxTokens, emitting a prefix of the full text", async () => {
    const full = await collect(fast(), [user("Tell me about queues")]);
    const short = await collect(fast(), [user("Tell me about queues")], { maxTokens: 5 });
    expect(short.done.finishReason).toBe("length");
    expect(short.deltas).toHaveLength(5);
    expect(short.done.usage?.completionTokens).toBe(5);
    expect(full.text.startsWith(short.text)).toBe(true);
  });

  it("counts prompt tokens deterministically", async () => {
    const { done } = await collect(fast(), [{ role: "system", content: "be brief" }, user("one two three")]);
    expect(done.usage?.promptTokens).toBe(2 + 4 + 3 + 4);
  });

  it("truncates before a stop sequence and finishes with 'stop'", async () => {
    const full = await collect(fast(), [user("stop me")]);
    const stop = full.deltas[10]!;
    const stopped = await collect(fast(), [user("stop me")], { stop: [stop] });
    expect(stopped.done.finishReason).toBe("stop");
    expect(stopped.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    expect(stopped.text).not.toContain(stop);
  });

  it("never emits a stop sequence that spans two tokens, not even its first part", async () => {
    const full = await collect(fast(), [user("span me")]);
    const stop = full.deltas[12]!.slice(-2) + full.deltas[13]!.slice(0, 3);
    const stopped = await collect(fast(), [user("span me")], { stop: ["never-there", stop] });
    expect(stopped.done.finishReason).toBe("stop");
    expect(stopped.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
  });

  it("flushes held-back text when generation ends without the stop sequence", async () => {
    const full = await collect(fast(), [user("flush me")], { maxTokens: 6 });
    const partial = `${full.deltas[5]!}zzz-no-match`;
    const result = await collect(fast(), [user("flush me")], { maxTokens: 6, stop: [partial] });
    expect(result.text).toBe(full.text);
    expect(result.done.finishReason).toBe("length");
  });

  it("stops promptly with the abort reason when the signal fires mid-stream", async () => {
    const controller = new AbortController();
    const provider = fast({ tokens_per_second: 10 });
    const startedAt = Date.now();
    const error = await failure(
      (async () => {
        for await (const event of provider.stream({ model: "m", messages: [user("abort me")], params: { maxTokens: 100 } }, controller.signal)) {
          if (event.type === "delta") controller.abort();
        }
      })(),
    );
    expect(error.name).toBe("AbortError");
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  it("stops promptly when aborted while waiting for the first token", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const startedAt = Date.now();
    const error = await failure(collect(fast({ first_token_ms: 10_000 }), [user("slow")], {}, controller.signal));
    expect(error.name).toBe("AbortError");
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  it("paces tokens at tokens_per_second after first_token_ms", async () => {
    const startedAt = performance.now();
    const { deltas } = await collect(fast({ tokens_per_second: 100, first_token_ms: 100 }), [user("pace me")], { maxTokens: 50 });
    const elapsed = performance.now() - startedAt;
    expect(deltas).toHaveLength(50);
    // 100 ms to the first token, then 49 gaps of 10 ms.
    expect(elapsed).toBeGreaterThanOrEqual(100 + 490 - 20);
    expect(elapsed).toBeLessThan(3000);
  });

  it("keeps high rates accurate by batching tokens", async () => {
    const startedAt = performance.now();
    const { done } = await collect(fast({ tokens_per_second: 2000 }), [user("a long answer please")], { maxTokens: 1024 });
    const elapsed = performance.now() - startedAt;
    const tokens = done.usage!.completionTokens;
    const expected = ((tokens - 1) / 2000) * 1000;
    expect(elapsed).toBeGreaterThanOrEqual(expected - 5);
    expect(elapsed).toBeLessThan(expected * 3 + 200);
  });
});

describe("createProvider", () => {
  it("builds the provider its config names", () => {
    expect(createProvider({ type: "simulated", name: "sim", first_token_ms: 0, tokens_per_second: 10 })).toBeInstanceOf(SimulatedProvider);
    const openai = createProvider({ type: "openai", name: "o", base_url: "http://127.0.0.1:1/v1", apiKey: null, timeout_ms: 1000, headers: {} });
    expect(openai.type).toBe("openai");
  });
});
