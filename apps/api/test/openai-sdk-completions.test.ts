// The official `openai` package against /v1/completions (legacy) and /v1/models on the simulated models.
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import type { Completion } from "openai/resources/completions";
import { TaskIds, historyIds, sdkClient, sdkError } from "./openai-sdk-support";

const MODEL = "gemma-7b";

let stack: TestStack;
let client: OpenAI;
const calls = new TaskIds();
beforeAll(async () => {
  stack = await startTestStack();
  client = sdkClient(stack);
});
afterAll(async () => {
  await stack.close();
});

/** Reads a whole stream: every chunk, and each choice's text joined. */
async function drain(stream: AsyncIterable<Completion>) {
  const chunks: Completion[] = [];
  const texts: string[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices) texts[choice.index] = (texts[choice.index] ?? "") + choice.text;
  }
  return { chunks, texts };
}

describe("legacy completions through the openai SDK", () => {
  it("streams Scaleway's completion snippet as text deltas, the same text as without streaming", async () => {
    const whole = await calls.of(client.completions.create({ model: MODEL, prompt: "Say hello world" }));
    expect(whole.object).toBe("text_completion");
    expect(whole.id).toMatch(/^cmpl-/);
    expect(whole.choices).toHaveLength(1);
    const text = whole.choices[0]?.text ?? "";
    expect(text.length).toBeGreaterThan(0);
    // OpenAI's legacy default is 16 tokens.
    expect(whole.usage!.completion_tokens).toBeLessThanOrEqual(16);
    expect(whole.usage!.total_tokens).toBe(whole.usage!.prompt_tokens + whole.usage!.completion_tokens);

    const stream = await calls.of(client.completions.create({ model: MODEL, prompt: "Say hello world", stream: true }));
    const { chunks, texts } = await drain(stream);
    expect(texts).toEqual([text]);
    expect(chunks.every((chunk) => chunk.object === "text_completion" && chunk.id === chunks[0]?.id)).toBe(true);
    expect(chunks.filter((chunk) => chunk.choices[0]?.text).length).toBeGreaterThan(1);
    const finishes = chunks.map((chunk) => chunk.choices[0]?.finish_reason ?? null);
    expect(finishes.slice(0, -1).every((reason) => reason === null)).toBe(true);
    expect(finishes.at(-1)).toBe(whole.choices[0]?.finish_reason);
  });

  it("answers a prompt array of two with two choices, indexed 0 and 1", async () => {
    const prompts = ["Say hello world", "Name a colour"];
    const response = await calls.of(client.completions.create({ model: MODEL, prompt: prompts, max_tokens: 8 }));
    expect(response.choices.map((choice) => choice.index)).toEqual([0, 1]);
    expect(response.choices.every((choice) => choice.text.length > 0)).toBe(true);
    // Each choice is its own prompt's answer.
    const single = await calls.of(client.completions.create({ model: MODEL, prompt: prompts[1]!, max_tokens: 8 }));
    expect(response.choices[1]?.text).toBe(single.choices[0]?.text);
    expect(response.usage!.total_tokens).toBe(response.usage!.prompt_tokens + response.usage!.completion_tokens);
  });

  it("prefixes each choice with its prompt when echo is set, streamed or not", async () => {
    const prompt = "Say hello world";
    const plain = await calls.of(client.completions.create({ model: MODEL, prompt, max_tokens: 10 }));
    const echoed = await calls.of(client.completions.create({ model: MODEL, prompt, max_tokens: 10, echo: true }));
    expect(echoed.choices[0]?.text).toBe(prompt + plain.choices[0]?.text);

    const stream = await calls.of(client.completions.create({ model: MODEL, prompt, max_tokens: 10, echo: true, stream: true }));
    const { texts } = await drain(stream);
    expect(texts).toEqual([prompt + plain.choices[0]?.text]);
  });

  it("ends a streamed completion with a usage chunk when stream_options.include_usage is set", async () => {
    const whole = await calls.of(client.completions.create({ model: MODEL, prompt: "Count to ten", max_tokens: 12 }));
    const stream = await calls.of(
      client.completions.create({ model: MODEL, prompt: "Count to ten", max_tokens: 12, stream: true, stream_options: { include_usage: true } }),
    );
    const { chunks, texts } = await drain(stream);
    expect(texts).toEqual([whole.choices[0]?.text]);
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toEqual(whole.usage);
  });

  it("lists every call above in the task history", async () => {
    expect(calls.ids).toHaveLength(9);
    expect(new Set(calls.ids).size).toBe(calls.ids.length);
    expect(await historyIds(stack)).toEqual(expect.arrayContaining(calls.ids));
  });
});

describe("models through the openai SDK", () => {
  it("lists the configured models", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model.object).toBe("model");
      expect(model.created).toEqual(expect.any(Number));
      ids.push(model.id);
    }
    expect(ids).toEqual(["gemma-7b", "llama-3.1-8b-instruct"]);
  });

  it("retrieves one model, and answers NotFoundError for an unknown one", async () => {
    const model = await client.models.retrieve("gemma-7b");
    expect(model).toMatchObject({ id: "gemma-7b", object: "model", owned_by: "fast" });

    const error = await sdkError(() => client.models.retrieve("gpt-17"));
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.status).toBe(404);
    expect(error.code).toBe("model_not_found");
  });
});
