import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { resolveModelsConfig } from "@llmq/core";
import { loadModelsFile } from "../src";

const ISSUE_SHAPE = `
providers:
  local-vllm: { type: openai, base_url: "http://127.0.0.1:8000/v1", api_key_env: VLLM_API_KEY, timeout_ms: 120000 }
models:
  - { id: gemma-7b, provider: simulated, concurrency: 8 }
  - { id: qwen-72b, provider: local-vllm, upstream_model: "Qwen/Qwen2.5-72B-Instruct", concurrency: 32, queue: llm_qwen_72b_queue }
`;

describe("models file", () => {
  it("accepts the documented shape and resolves providers, keys and queues", () => {
    const config = resolveModelsConfig(YAML.parse(ISSUE_SHAPE), { VLLM_API_KEY: "sk-local" });
    const gemma = config.byId.get("gemma-7b")!;
    expect(gemma).toMatchObject({ queueName: "llm_gemma_7b_queue", concurrency: 8, taskType: "LLM-GEMMA-7B", upstreamModel: "gemma-7b" });
    expect(gemma.provider.type).toBe("simulated");
    const qwen = config.byId.get("qwen-72b")!;
    expect(qwen).toMatchObject({ queueName: "llm_qwen_72b_queue", concurrency: 32, upstreamModel: "Qwen/Qwen2.5-72B-Instruct" });
    expect(qwen.provider).toMatchObject({ type: "openai", base_url: "http://127.0.0.1:8000/v1", timeout_ms: 120000, apiKey: "sk-local" });
  });

  it("ships a default file serving gemma-7b and llama-3.1-8b-instruct on the simulated provider", () => {
    const config = loadModelsFile(path.resolve(__dirname, "../../../config/models.yaml"), {});
    expect(config.models.map((m) => [m.id, m.queueName, m.provider.type])).toEqual([
      ["gemma-7b", "llm_gemma_7b_queue", "simulated"],
      ["llama-3.1-8b-instruct", "llm_llama_3_1_8b_instruct_queue", "simulated"],
    ]);
    // Paced to be watched (and cancelled) on the dashboard: a 300-word answer takes over 10 s, not 1.
    const provider = config.byId.get("gemma-7b")!.provider;
    expect(provider.type === "simulated" && provider.tokens_per_second).toBeGreaterThanOrEqual(10);
    expect(provider.type === "simulated" && provider.tokens_per_second).toBeLessThanOrEqual(30);
  });

  it("reads JSON files too", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "models-")), "models.json");
    fs.writeFileSync(file, JSON.stringify({ models: [{ id: "m1", provider: "simulated" }] }));
    expect(loadModelsFile(file, {}).byId.get("m1")?.queueName).toBe("llm_m1_queue");
  });

  it("names the file when it cannot be parsed", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "models-")), "bad.yaml");
    fs.writeFileSync(file, "models: [\n");
    expect(() => loadModelsFile(file, {})).toThrow(/bad\.yaml is not valid YAML/);
  });
});

describe("models file: the issue's upstreams and fallbacks", () => {
  it("reads the example of docs/configuration.md", () => {
    const config = resolveModelsConfig(
      YAML.parse(`
providers:
  gpu-a: { type: openai, base_url: "http://10.0.0.5:8000/v1" }
  scaleway: { type: openai, base_url: "https://api.scaleway.ai/v1", api_key_env: SCW_API_KEY }
scheduling:
  aging: { default_ms: 60000, flex_ms: 600000 }
models:
  - id: llama-3.1-8b-instruct
    upstreams:
      - { provider: gpu-a, weight: 3, max_concurrency: 32, tokens_per_minute: 400000 }
      - { provider: scaleway, upstream_model: llama-3.1-8b-instruct, max_concurrency: 8 }
    fallbacks: [gemma-7b]
  - { id: gemma-7b, provider: simulated }
`),
      { SCW_API_KEY: "scw-secret" },
    );
    const llama = config.byId.get("llama-3.1-8b-instruct")!;
    expect(llama.upstreams.map((u) => [u.name, u.weight, u.maxConcurrency, u.tokensPerMinute])).toEqual([
      ["gpu-a", 3, 32, 400_000],
      ["scaleway", 1, 8, null],
    ]);
    expect(llama.upstreams[1]!.provider).toMatchObject({ type: "openai", apiKey: "scw-secret" });
    expect(llama.fallbacks).toEqual(["gemma-7b"]);
  });
});
