import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Issue 13, latency of a waited (non-stream) completion: the request learns its task's end from the final
// event's message, which carries the row as the completion committed it, and answers from that instead of
// reading the row again. What it answers must be exactly what a read of the row gives.
let stack: TestStack;
let tenantKey: string;

beforeAll(async () => {
  stack = await startTestStack();
  // A user's key, not the admin's: the answer made from the message must pass the same visibility as a read.
  const created = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "waited-tenant" } });
  expect(created.status).toBe(201);
  tenantKey = (await json(created)).data.data.key as string;
});
afterAll(async () => {
  await stack?.close();
});

/** Counts the API's reads of task rows while `during` runs (the repository is real; the count wraps it). */
async function rowReads<T>(during: () => Promise<T>): Promise<{ value: T; findVisible: number; findById: number }> {
  const tasks = stack.api.deps.tasks;
  const counts = { findVisible: 0, findById: 0 };
  const originals = { findVisible: tasks.findVisible, findById: tasks.findById };
  tasks.findVisible = (...args) => (counts.findVisible++, originals.findVisible.apply(tasks, args));
  tasks.findById = (...args) => (counts.findById++, originals.findById.apply(tasks, args));
  try {
    return { value: await during(), ...counts };
  } finally {
    Object.assign(tasks, originals);
  }
}

const chat = (key: string, content: string, maxTokens = 8) =>
  stack.request("/v1/chat/completions", { method: "POST", key, json: { model: "gemma-7b", messages: [{ role: "user", content }], max_tokens: maxTokens } });

describe("a waited completion is answered from its final event", () => {
  it("reads no task row after the final (before: one read of the row for the answer)", async () => {
    const { value: res, findVisible, findById } = await rowReads(() => chat(tenantKey, "hello"));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.status).toBe("completed");
    // The one check once subscribed (a final that came before it) stays; the re-read for the answer is gone.
    expect({ findVisible, findById }).toEqual({ findVisible: 0, findById: 1 });
  });

  it("answers exactly what a read of the row answers (chat, legacy text, the task envelope's result)", async () => {
    const waited = await chat(tenantKey, "compare me", 12);
    expect(waited.status).toBe(200);
    const answer = await json(waited);
    const read = await stack.request(`/v1/chat/completions/${answer.id}`, { key: tenantKey });
    expect(await json(read)).toEqual(answer);

    const text = await stack.request("/v1/completions", { method: "POST", key: tenantKey, json: { model: "gemma-7b", prompt: ["one", "two"], n: 2, max_tokens: 6, echo: true } });
    expect(text.status).toBe(200);
    const textAnswer = await json(text);
    expect(textAnswer.choices).toHaveLength(4);
    expect(await json(await stack.request(`/v1/completions/${textAnswer.id}`, { key: tenantKey }))).toEqual(textAnswer);

    const envelope = await stack.request("/v1/ai/text_completion", { method: "POST", key: tenantKey, json: { messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 8 } } });
    expect(envelope.status).toBe(200);
    const waitedTask = (await json(envelope)).data.data;
    const polled = (await json(await stack.request(`/v1/ai/tasks/${waitedTask.task_id}`, { key: tenantKey }))).data.data;
    expect(waitedTask.status).toBe("COMPLETED");
    expect(waitedTask).toEqual(polled);
  });

  it("reads the row when the finished task is too large for the message, and answers the same", async () => {
    // Past the 16 KiB notice limit (the text is in the row twice: response and choices): the message says only that it ended.
    const { value: res, findVisible } = await rowReads(() => chat(tenantKey, "write 2000 words about queues", 3_000));
    expect(res.status).toBe(200);
    const answer = await json(res);
    expect(Buffer.byteLength(answer.choices[0].message.content)).toBeGreaterThan(8_192);
    expect(findVisible).toBe(1);
    expect(await json(await stack.request(`/v1/chat/completions/${answer.id}`, { key: tenantKey }))).toEqual(answer);
  });
});
