import { defaultQueueName, resolveModelsConfig } from "../src";

describe("models config", () => {
  it("derives queue names from model ids", () => {
    expect(defaultQueueName("gemma-7b")).toBe("llm_gemma_7b_queue");
    expect(defaultQueueName("llama-3.1-8b-instruct")).toBe("llm_llama_3_1_8b_instruct_queue");
  });

  it.each([
    [{ models: [] }, /at least one model/],
    [{ models: [{ id: "a", provider: "nowhere" }] }, /unknown provider 'nowhere'/],
    [{ models: [{ id: "a", provider: "simulated" }, { id: "a", provider: "simulated" }] }, /listed twice/],
    [{ models: [{ id: "a", provider: "simulated", queue: "q" }, { id: "b", provider: "simulated", queue: "q" }] }, /share queue 'q'/],
    [{ providers: { p: { type: "openai", base_url: "not a url" } }, models: [{ id: "a", provider: "p" }] }, /providers\.p\.base_url/],
    [{ models: [{ id: "a", provider: "simulated", concurrency: 0 }] }, /models\.0\.concurrency/],
    [{ models: [{ id: "a", provider: "simulated", colour: "red" }] }, /colour/],
  ])("rejects an invalid file with a readable message (%#)", (raw, message) => {
    expect(() => resolveModelsConfig(raw, {})).toThrow(message);
  });
});
