// The official `openai` package against /v1/chat/completions on the simulated models.
import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import { TaskIds, flexTask, historyIds, sdkClient, sdkError, taskIdOf } from "./openai-sdk-support";

const MODEL = "llama-3.1-8b-instruct";

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

// Scaleway's chat snippet, as written for the openai package.
const SCALEWAY_CHAT: ChatCompletionCreateParamsNonStreaming = {
  model: MODEL,
  messages: [{ role: "user", content: "Describe a futuristic city with advanced technology and green energy solutions." }],
  temperature: 0.2,
  max_tokens: 100,
  top_p: 0.7,
};

/** Reads a whole stream: every chunk, and each choice's content joined. */
async function drain(stream: AsyncIterable<ChatCompletionChunk>) {
  const chunks: ChatCompletionChunk[] = [];
  const texts: string[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices) texts[choice.index] = (texts[choice.index] ?? "") + (choice.delta.content ?? "");
  }
  return { chunks, texts };
}

const contentOf = (completion: ChatCompletion, index = 0) => completion.choices[index]?.message.content ?? "";

describe("chat completions through the openai SDK", () => {
  it("answers Scaleway's chat snippet with a complete chat.completion", async () => {
    const response = await calls.of(client.chat.completions.create(SCALEWAY_CHAT));

    expect(response.object).toBe("chat.completion");
    expect(response.id).toMatch(/^chatcmpl-/);
    expect(response.model).toBe(MODEL);
    expect(response.system_fingerprint).toEqual(expect.any(String));
    expect(response.system_fingerprint).not.toBe("");
    expect(response.choices).toHaveLength(1);
    const [choice] = response.choices;
    expect(choice?.index).toBe(0);
    expect(choice?.message.role).toBe("assistant");
    expect(choice?.message.content).toEqual(expect.any(String));
    expect(choice?.message.content?.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(choice?.finish_reason);

    const usage = response.usage!;
    expect(usage.prompt_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeLessThanOrEqual(100);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it("streams Scaleway's snippet: role first, the same text as without streaming, finish_reason last", async () => {
    const whole = await calls.of(client.chat.completions.create(SCALEWAY_CHAT));
    const stream = await calls.of(client.chat.completions.create({ ...SCALEWAY_CHAT, stream: true }));
    const { chunks, texts } = await drain(stream);

    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.id === chunks[0]?.id)).toBe(true);
    expect(chunks[0]?.id).toMatch(/^chatcmpl-/);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(texts).toEqual([contentOf(whole)]);
    // More than one content delta: the text really was streamed.
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThan(1);

    const withChoices = chunks.filter((chunk) => chunk.choices.length > 0);
    const finishes = withChoices.map((chunk) => chunk.choices[0]?.finish_reason ?? null);
    expect(finishes.slice(0, -1).every((reason) => reason === null)).toBe(true);
    expect(finishes.at(-1)).toBe(whole.choices[0]?.finish_reason);
    // Without stream_options no chunk carries usage.
    expect(chunks.every((chunk) => chunk.usage === undefined || chunk.usage === null)).toBe(true);
  });

  it("sends a final usage chunk with empty choices when stream_options.include_usage is set", async () => {
    const whole = await calls.of(client.chat.completions.create(SCALEWAY_CHAT));
    const stream = await calls.of(client.chat.completions.create({ ...SCALEWAY_CHAT, stream: true, stream_options: { include_usage: true } }));
    const { chunks, texts } = await drain(stream);

    expect(texts).toEqual([contentOf(whole)]);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    // Every earlier chunk says usage: null, as OpenAI does.
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it("ends the answer before a stop sequence, with finish_reason stop", async () => {
    const request = { model: MODEL, messages: [{ role: "user" as const, content: "Tell me a long story about a river." }], seed: 7 };
    const full = contentOf(await calls.of(client.chat.completions.create(request)));
    const words = full.split(" ");
    expect(words.length).toBeGreaterThan(20);
    // A word from the middle, with its leading space; the answer stops at its first occurrence.
    const stop = ` ${words[Math.floor(words.length / 2)]}`;
    const expected = full.slice(0, full.indexOf(stop));
    expect(expected.length).toBeGreaterThan(0);

    const stopped = await calls.of(client.chat.completions.create({ ...request, stop: [stop] }));
    expect(contentOf(stopped)).toBe(expected);
    expect(stopped.choices[0]?.finish_reason).toBe("stop");
    expect(stopped.usage!.completion_tokens).toBeLessThan(words.length);

    // The same through a stream.
    const stream = await calls.of(client.chat.completions.create({ ...request, stop, stream: true }));
    const { chunks, texts } = await drain(stream);
    expect(texts).toEqual([expected]);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
  });

  it("answers n=3 with three different choices, indexed 0..2", async () => {
    const response = await calls.of(client.chat.completions.create({ ...SCALEWAY_CHAT, n: 3 }));
    expect(response.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    const texts = response.choices.map((choice) => choice.message.content ?? "");
    expect(texts.every((text) => text.length > 0)).toBe(true);
    expect(new Set(texts).size).toBe(3);
    for (const choice of response.choices) expect(["stop", "length"]).toContain(choice.finish_reason);
    expect(response.usage!.total_tokens).toBe(response.usage!.prompt_tokens + response.usage!.completion_tokens);
  });

  it("streams n=2 as deltas for both indexes, each ending with its finish_reason", async () => {
    const whole = await calls.of(client.chat.completions.create({ ...SCALEWAY_CHAT, n: 2 }));
    const stream = await calls.of(client.chat.completions.create({ ...SCALEWAY_CHAT, n: 2, stream: true }));
    const { chunks, texts } = await drain(stream);

    expect(texts).toEqual([contentOf(whole, 0), contentOf(whole, 1)]);
    for (const index of [0, 1]) {
      const mine = chunks.flatMap((chunk) => chunk.choices.filter((choice) => choice.index === index));
      expect(mine[0]?.delta.role).toBe("assistant");
      expect(mine.filter((choice) => choice.delta.content).length).toBeGreaterThan(1);
      const finishes = mine.map((choice) => choice.finish_reason ?? null);
      expect(finishes.slice(0, -1).every((reason) => reason === null)).toBe(true);
      expect(finishes.at(-1)).toBe(whole.choices[index]?.finish_reason);
    }
  });

  it("accepts Prefer: respond-async with 202, then serves the completion by id", async () => {
    const { data, response } = await client.chat.completions.create(SCALEWAY_CHAT, { headers: { Prefer: "respond-async" } }).withResponse();
    expect(response.status).toBe(202);
    const taskId = taskIdOf(response);
    calls.ids.push(taskId);
    const queued = data as ChatCompletion & { status: string; task_id: string };
    expect(queued.id).toBe(`chatcmpl-${taskId}`);
    expect(queued.status).toBe("queued");
    expect(queued.task_id).toBe(taskId);
    expect(response.headers.get("location")).toBe(`/v1/chat/completions/${queued.id}`);

    const done = await eventually(async () => {
      const current = await client.get<ChatCompletion & { status: string }>(`/chat/completions/${queued.id}`);
      return current.status === "completed" ? current : undefined;
    }, { what: "the asynchronous completion" });
    expect(done.id).toBe(queued.id);
    expect(done.object).toBe("chat.completion");
    expect(contentOf(done).length).toBeGreaterThan(0);
    expect(done.usage!.completion_tokens).toBeGreaterThan(0);

    // The same task in the Flexstack dialect.
    const task = await flexTask(stack, taskId);
    expect(task).toMatchObject({ task_id: taskId, status: "COMPLETED", response: contentOf(done), model: MODEL });
    // Same messages and sampling as the first test's synchronous call: the same text.
    expect(contentOf(done)).toBe(contentOf(await calls.of(client.chat.completions.create(SCALEWAY_CHAT))));
  });

  it("refuses tools on the simulated model with a 400 on param 'tools', and writes no task", async () => {
    const before = await stack.api.deps.db.task.count();
    const error = await sdkError(() =>
      client.chat.completions.create({
        ...SCALEWAY_CHAT,
        tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } }],
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.status).toBe(400);
    expect(error.param).toBe("tools");
    expect(error.code).toBe("unsupported_parameter");
    expect(await stack.api.deps.db.task.count()).toBe(before);
  });

  it("lists every call above in the task history", async () => {
    expect(calls.ids.length).toBe(13);
    expect(new Set(calls.ids).size).toBe(calls.ids.length);
    const history = await historyIds(stack);
    expect(history).toEqual(expect.arrayContaining(calls.ids));
    const res = await stack.request(`/v1/ai/tasks/${calls.ids[0]}`);
    expect((await json(res)).data.data.status).toBe("COMPLETED");
  });
});
