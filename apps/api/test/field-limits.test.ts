import { REQUEST_LIMITS as L } from "@llmq/core";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// A native batch may carry 2mb here, so a single field can be larger than an interactive body would allow:
// the field limits, not the body limit, must refuse it.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false, env: { BATCH_BODY_LIMIT: "3mb" } });
});
afterAll(async () => {
  await stack.close();
});

const user = (content: string) => ({ role: "user", content });
const long = (n: number) => "x".repeat(n);
const flexTask = (over: Record<string, unknown> = {}, configs: Record<string, unknown> = {}) => ({ messages: [user("hi")], configs: { model: "gemma-7b", max_tokens: 4, ...configs }, ...over });
const chat = (over: Record<string, unknown>) => ({ model: "gemma-7b", messages: [user("hi")], ...over });

async function expectRejected(path: string, body: unknown, param: string, status = 400) {
  const before = await stack.api.deps.db.task.count();
  const res = await stack.request(path, { method: "POST", json: body });
  const payload = await json(res);
  expect([path, param, res.status]).toEqual([path, param, status]);
  if (path.startsWith("/v1/ai")) expect(payload.errors[0].param).toBe(param);
  else expect(payload.error).toMatchObject({ type: "invalid_request_error", param });
  expect(await stack.api.deps.db.task.count()).toBe(before);
}

describe("field limits", () => {
  it("refuse oversized fields of the task dialect, also inside a batch whose body limit would let them through", async () => {
    await expectRejected("/v1/ai/text_completion", flexTask({ messages: Array.from({ length: L.messages + 1 }, () => user("m")) }), "messages");
    await expectRejected("/v1/ai/text_completion", flexTask({}, { model: long(L.idChars + 1) }), "configs.model");
    await expectRejected("/v1/ai/text_completion", flexTask({}, { stop: long(L.stopChars + 1) }), "configs.stop");
    await expectRejected("/v1/ai/text_completion", flexTask({}, { stop: ["a", "b", "c", "d", "e"] }), "configs.stop");
    await expectRejected("/v1/ai/text_completion", flexTask({ webhook: `https://example.com/${long(2100)}` }), "webhook.url");
    await expectRejected("/v1/ai/batches", { requests: [flexTask({ messages: [user(long(L.contentChars + 1))] })] }, "requests.0.messages.0.content");
    await expectRejected("/v1/ai/batches", { requests: [{ ...flexTask(), custom_id: long(513) }] }, "requests.0.custom_id");
  });

  it("refuse oversized fields of the OpenAI dialect", async () => {
    await expectRejected("/v1/chat/completions", chat({ messages: Array.from({ length: L.messages + 1 }, () => user("m")) }), "messages");
    await expectRejected("/v1/chat/completions", chat({ model: long(L.idChars + 1) }), "model");
    await expectRejected("/v1/chat/completions", chat({ stop: [long(L.stopChars + 1)] }), "stop.0");
    await expectRejected("/v1/chat/completions", chat({ metadata: Object.fromEntries(Array.from({ length: L.metadataPairs + 1 }, (_, i) => [`k${i}`, "v"])) }), "metadata");
    await expectRejected("/v1/chat/completions", chat({ messages: [{ role: "user", content: "hi", name: long(L.idChars + 1) }] }), "messages.0.name");
    await expectRejected("/v1/chat/completions", chat({ user: long(257) }), "user");
    await expectRejected("/v1/completions", { model: "gemma-7b", prompt: Array.from({ length: 33 }, () => "p") }, "prompt");
    await expectRejected("/v1/batches", { input_file_id: `file-${long(300)}`, endpoint: "/v1/chat/completions", completion_window: "24h" }, "input_file_id");
  });

  it("answer a body over BODY_LIMIT with 413 in the caller's dialect, and one over BATCH_BODY_LIMIT on batches", async () => {
    const huge = long(1024 * 1024 + 10);
    await expectRejected("/v1/ai/text_completion", flexTask({ messages: [user(huge)] }), "body", 413);
    await expectRejected("/v1/chat/completions", chat({ messages: [user(huge)] }), "body", 413);
    await expectRejected("/v1/completions", { model: "gemma-7b", prompt: huge }, "body", 413);
    await expectRejected("/v1/ai/batches", { requests: [flexTask({ messages: [user(long(3 * 1024 * 1024))] })] }, "body", 413);
  });
});
