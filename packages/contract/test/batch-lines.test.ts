import { resolveModelsConfig } from "@llmq/core";
import { isBatchLineError, parseBatchLine } from "../src";

// Postgres text cannot hold NUL: a batch line carrying one is refused where it enters, naming the field.
describe("OpenAI batch lines", () => {
  it("make a batch input line invalid, naming the field", () => {
    const models = resolveModelsConfig({ models: [{ id: "gemma-7b", provider: "simulated" }] }, {});
    const line = JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gemma-7b", messages: [{ role: "user", content: "hi\u0000" }] } });
    const parsed = parseBatchLine(line, 3, "/v1/chat/completions", models);
    expect(isBatchLineError(parsed)).toBe(true);
    expect(parsed).toMatchObject({ code: "invalid_request", param: "body.messages.0.content", line: 3 });
    expect(isBatchLineError(parseBatchLine(line.replace("\\u0000", ""), 3, "/v1/chat/completions", models))).toBe(false);
  });

  it("ask a chat line's upstream for the whole answer (nobody reads a batch line piece by piece)", () => {
    const models = resolveModelsConfig({ models: [{ id: "gemma-7b", provider: "simulated" }] }, {});
    const line = JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gemma-7b", messages: [{ role: "user", content: "hi" }] } });
    const parsed = parseBatchLine(line, 1, "/v1/chat/completions", models);
    if (isBatchLineError(parsed)) throw new Error(parsed.message);
    expect(parsed.task.configs).toMatchObject({ whole_answer: true });
  });
});
