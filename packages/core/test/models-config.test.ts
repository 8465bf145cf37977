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

describe("models config: upstreams, fallbacks, scheduling", () => {
  const providers = {
    "gpu-a": { type: "openai", base_url: "http://127.0.0.1:8000/v1" },
    scaleway: { type: "openai", base_url: "https://api.scaleway.ai/v1" },
  };

  it("keeps `provider` alone as one upstream, with the defaults", () => {
    const config = resolveModelsConfig({ models: [{ id: "a", provider: "simulated", upstream_model: "up-a" }] }, {});
    const model = config.byId.get("a")!;
    expect(model.upstreams).toEqual([
      { name: "simulated", provider: model.provider, upstreamModel: "up-a", weight: 1, maxConcurrency: null, requestsPerMinute: null, tokensPerMinute: null, circuit: null, quotaPauseMs: 60_000 },
    ]);
    expect(model.fallbacks).toEqual([]);
    expect(config.scheduling).toEqual({ aging: { defaultMs: 60_000, flexMs: 600_000 }, pauseHoldMaxMs: 5_000 });
  });

  it("resolves several upstreams; provider and upstreamModel are the first one's", () => {
    const config = resolveModelsConfig(
      {
        providers,
        scheduling: { aging: { default_ms: 30_000 } },
        models: [
          {
            id: "llama-3.1-8b-instruct",
            upstreams: [
              { provider: "gpu-a", weight: 3, max_concurrency: 32, tokens_per_minute: 400_000, circuit: { failures: 5, window_ms: 30_000, cooldown_ms: 10_000 } },
              { provider: "scaleway", upstream_model: "llama-3.1-8b", max_concurrency: 8, requests_per_minute: 600, quota_pause_ms: 120_000 },
              { provider: "scaleway", name: "scaleway-2" },
            ],
            fallbacks: ["gemma-7b"],
          },
          { id: "gemma-7b", provider: "simulated", fallbacks: ["llama-3.1-8b-instruct"] },
        ],
      },
      {},
    );
    const model = config.byId.get("llama-3.1-8b-instruct")!;
    expect(model.upstreams.map((u) => [u.name, u.provider.name, u.upstreamModel, u.weight, u.maxConcurrency, u.requestsPerMinute, u.tokensPerMinute, u.quotaPauseMs])).toEqual([
      ["gpu-a", "gpu-a", "llama-3.1-8b-instruct", 3, 32, null, 400_000, 60_000],
      ["scaleway", "scaleway", "llama-3.1-8b", 1, 8, 600, null, 120_000],
      ["scaleway-2", "scaleway", "llama-3.1-8b-instruct", 1, null, null, null, 60_000],
    ]);
    expect(model.upstreams[0]!.circuit).toEqual({ failures: 5, windowMs: 30_000, cooldownMs: 10_000 });
    expect(model.provider).toBe(model.upstreams[0]!.provider);
    expect(model.upstreamModel).toBe("llama-3.1-8b-instruct");
    expect(model.fallbacks).toEqual(["gemma-7b"]);
    // Depth 1: gemma's own fallback back to llama is allowed, and never followed from llama.
    expect(config.byId.get("gemma-7b")!.fallbacks).toEqual(["llama-3.1-8b-instruct"]);
    expect(config.scheduling.aging).toEqual({ defaultMs: 30_000, flexMs: 600_000 });
  });

  it.each([
    [{ models: [{ id: "a" }] }, /models\.0: give either `provider` or `upstreams`/],
    [{ models: [{ id: "a", provider: "simulated", upstreams: [{ provider: "simulated" }] }] }, /models\.0: give either `provider` or `upstreams`, not both/],
    [{ models: [{ id: "a", upstreams: [] }] }, /models\.0\.upstreams/],
    [{ models: [{ id: "a", upstreams: Array.from({ length: 17 }, (_, i) => ({ provider: "simulated", name: `u${i}` })) }] }, /models\.0\.upstreams/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", weight: 0 }] }] }, /models\.0\.upstreams\.0\.weight/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", weight: 1001 }] }] }, /models\.0\.upstreams\.0\.weight/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", max_concurrency: 0 }] }] }, /models\.0\.upstreams\.0\.max_concurrency/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", tokens_per_minute: -1 }] }] }, /models\.0\.upstreams\.0\.tokens_per_minute/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", circuit: { failures: 3 } }] }] }, /models\.0\.upstreams\.0\.circuit\.window_ms/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", colour: "red" }] }] }, /models\.0\.upstreams\.0.*colour/],
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated" }, { provider: "simulated" }] }] }, /models\.0\.upstreams\.1\.name: upstream name 'simulated' is used twice in model 'a'/],
    // Names go into Redis keys and metrics: the run queue takes letters, digits and . _ - only.
    [{ models: [{ id: "a", upstreams: [{ provider: "simulated", name: "gpu:a" }] }] }, /models\.0\.upstreams\.0\.name: upstream names use letters, digits and \. _ -/],
    [{ providers: { "gpu a": { type: "simulated" } }, models: [{ id: "a", provider: "gpu a" }] }, /models\.0: provider 'gpu a' cannot name an upstream .*give the upstream a `name` \(list it under `upstreams`\)/],
    [{ providers: { "gpu a": { type: "simulated" } }, models: [{ id: "a", upstreams: [{ provider: "gpu a" }] }] }, /models\.0\.upstreams\.0: provider 'gpu a' cannot name an upstream/],
    [{ models: [{ id: "a", upstreams: [{ provider: "nowhere" }] }] }, /models\.0\.upstreams\.0\.provider: model 'a' uses unknown provider 'nowhere'/],
    [{ models: [{ id: "a", provider: "simulated", fallbacks: ["b"] }] }, /models\.0\.fallbacks\.0: model 'a' falls back to unknown model 'b'/],
    [{ models: [{ id: "a", provider: "simulated", fallbacks: ["a"] }] }, /models\.0\.fallbacks\.0: model 'a' cannot fall back to itself/],
    [{ models: [{ id: "a", provider: "simulated", fallbacks: ["b", "b"] }, { id: "b", provider: "simulated" }] }, /models\.0\.fallbacks\.1: model 'a' lists fallback 'b' twice/],
    [{ scheduling: { aging: { flex_ms: -5 } }, models: [{ id: "a", provider: "simulated" }] }, /scheduling\.aging\.flex_ms/],
    [{ scheduling: { fairness: "drr" }, models: [{ id: "a", provider: "simulated" }] }, /scheduling.*fairness/],
    [{ scheduling: { pause_hold_max_ms: -1 }, models: [{ id: "a", provider: "simulated" }] }, /scheduling\.pause_hold_max_ms/],
  ])("rejects an invalid upstream, fallback or scheduling section, naming its path (%#)", (raw, message) => {
    expect(() => resolveModelsConfig(raw, {})).toThrow(message);
  });
});
