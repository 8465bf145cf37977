import { fallbackRefusal, resolveModelsConfig } from "../src";

// Which fallback may serve a stored task of another model (issue 16): the same capabilities a submission
// is checked against, plus the fallback's own max_tokens.
const config = resolveModelsConfig(
  {
    providers: {
      gpu: { type: "openai", base_url: "http://127.0.0.1:8000/v1" },
      responder: { type: "openai", base_url: "http://127.0.0.1:8001/v1", responses_api: true },
    },
    models: [
      { id: "sim", provider: "simulated", max_tokens: 256 },
      { id: "mixed", upstreams: [{ provider: "gpu" }, { provider: "simulated" }] },
      { id: "open", provider: "gpu" },
      { id: "resp", provider: "responder" },
    ],
  },
  {},
);
const model = (id: string) => config.byId.get(id)!;

describe("fallbackRefusal", () => {
  it("refuses a field one upstream of the fallback cannot honour, naming the field, fallback and upstream", () => {
    const tools = [{ type: "function", function: { name: "f" } }];
    expect(fallbackRefusal(model("sim"), { max_tokens: 10, passthrough: { tools } })).toMatch(/^tools: the simulated provider cannot call tools.*\(sim, upstream simulated\)$/);
    expect(fallbackRefusal(model("mixed"), { max_tokens: 10, passthrough: { tools } })).toMatch(/\(mixed, upstream simulated\)$/);
    expect(fallbackRefusal(model("open"), { max_tokens: 10, passthrough: { tools } })).toBeNull();
    expect(fallbackRefusal(model("sim"), { max_tokens: 10, passthrough: { response_format: { type: "json_object" } } })).toMatch(/^response_format:/);
  });

  it("refuses stop sequences on a Responses-API upstream for a response task only", () => {
    expect(fallbackRefusal(model("resp"), { max_tokens: 10, stop: ["x"], responses: {} })).toMatch(/^stop:/);
    expect(fallbackRefusal(model("resp"), { max_tokens: 10, stop: ["x"] })).toBeNull();
  });

  it("refuses an explicit max_tokens above the fallback's; a cap left to the model is not a reason", () => {
    expect(fallbackRefusal(model("sim"), { max_tokens: 1000 })).toBe("max_tokens 1000 is above sim's 256");
    expect(fallbackRefusal(model("sim"), { max_tokens: 1000, max_tokens_is_cap: true })).toBeNull();
    expect(fallbackRefusal(model("sim"), { max_tokens: 256 })).toBeNull();
  });
});
