import { toGenerationParams } from "@llmq/core";
import { textCompletionRequestSchema } from "../src";

describe("text completion request", () => {
  it("fills Flexstack's defaults", () => {
    const request = textCompletionRequestSchema.parse({ messages: [{ role: "user", content: "hi" }] });
    expect(request.configs).toEqual({ model: "gemma-7b", temperature: 0.7, top_k: 50, top_p: 0.5, max_tokens: 512 });
  });

  it("treats max_new_tokens as max_tokens and normalises stop to a list", () => {
    const request = textCompletionRequestSchema.parse({ messages: [{ role: "user", content: "hi" }], configs: { max_new_tokens: 64, stop: "\n" } });
    expect(request.configs.max_tokens).toBe(64);
    expect(toGenerationParams(request.configs)).toMatchObject({ maxTokens: 64, stop: ["\n"], topK: 50 });
  });

  it.each([
    [{ messages: [] }, "messages"],
    [{ messages: [{ role: "robot", content: "x" }] }, "messages.0.role"],
    [{ messages: [{ role: "user", content: 5 }] }, "messages.0.content"],
    [{ messages: [{ role: "user", content: "x" }], configs: { max_tokens: 4097 } }, "configs.max_tokens"],
    [{ messages: [{ role: "user", content: "x" }], configs: { max_tokens: 5, max_new_tokens: 6 } }, "configs.max_new_tokens"],
    [{ messages: [{ role: "user", content: "x" }], configs: { top_p: 0 } }, "configs.top_p"],
    [{ messages: [{ role: "user", content: "x" }], configs: { temperature: "hot" } }, "configs.temperature"],
    [{ messages: [{ role: "user", content: "x" }], configs: { stop: ["a", "b", "c", "d", "e"] } }, "configs.stop"],
    [{ messages: [{ role: "user", content: "x" }], extra: 1 }, ""],
  ])("rejects %j at %s", (body, field) => {
    const result = textCompletionRequestSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path.join(".")).toBe(field);
  });
});
