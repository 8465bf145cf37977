import { isBatchLineError, parseBatchLine } from "@llmq/contract";
import { nulCharacterPath, resolveModelsConfig } from "../src";

// Postgres text cannot hold NUL: input carrying one is refused where it enters, naming the field.
describe("NUL characters", () => {
  it("are found in nested strings and keys, with their path", () => {
    expect(nulCharacterPath({ a: [{ b: "ok" }, { c: "x\u0000y" }] })).toEqual(["a", "1", "c"]);
    expect(nulCharacterPath({ ["k\u0000"]: 1 })).toEqual(["k\u0000"]);
    expect(nulCharacterPath("\u0000")).toEqual([]);
    expect(nulCharacterPath({ a: ["fine", 1, null, { b: true }] })).toBeNull();
  });

  it("make a batch input line invalid, naming the field", () => {
    const models = resolveModelsConfig({ models: [{ id: "gemma-7b", provider: "simulated" }] }, {});
    const line = JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gemma-7b", messages: [{ role: "user", content: "hi\u0000" }] } });
    const parsed = parseBatchLine(line, 3, "/v1/chat/completions", models);
    expect(isBatchLineError(parsed)).toBe(true);
    expect(parsed).toMatchObject({ code: "invalid_request", param: "body.messages.0.content", line: 3 });
    expect(isBatchLineError(parseBatchLine(line.replace("\\u0000", ""), 3, "/v1/chat/completions", models))).toBe(false);
  });
});
