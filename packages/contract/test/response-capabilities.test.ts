// Structured output and tools in a Responses API request reach the same capability check as chat
// completions (core's capabilities.ts): a provider that cannot honour them refuses the request before a
// task exists; OpenAI-compatible upstreams (translated or passed through) take them.
import { ValidationError, prepareTask, resolveModelsConfig } from "@llmq/core";
import { type ResponseCreateRequest, responseCreateRequestSchema, responseTaskInput } from "../src";

const models = resolveModelsConfig(
  {
    providers: {
      sim: { type: "simulated" },
      chat: { type: "openai", base_url: "http://upstream.test/v1" },
      native: { type: "openai", base_url: "http://upstream.test/v1", responses_api: true },
    },
    models: [
      { id: "sim-model", provider: "sim" },
      { id: "chat-model", provider: "chat" },
      { id: "native-model", provider: "native" },
    ],
  },
  {},
);

const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
const tool = { type: "function" as const, name: "get_weather", parameters: { type: "object", properties: {} } };

function prepare(model: string, fields: Partial<ResponseCreateRequest>) {
  const body = responseCreateRequestSchema.parse({ model, input: "hello", ...fields });
  return () => prepareTask(models, responseTaskInput(body));
}

function refusal(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error("expected the request to be refused");
}

describe("capabilities of a Responses API request", () => {
  it.each([
    ["text.format json_schema", { text: { format: { type: "json_schema" as const, name: "answer", schema } } }, "text.format", /^text\.format: .*plain text only/],
    ["text.format json_object", { text: { format: { type: "json_object" as const } } }, "text.format", /^text\.format: .*plain text only/],
    ["function tools", { tools: [tool] }, "tools", /^tools: .*cannot call tools/],
  ])("the simulated provider refuses %s, naming the Responses API's field", (_name, fields, param, reason) => {
    const error = refusal(prepare("sim-model", fields));
    expect(error.code).toBe("unsupported_parameter");
    expect(error.param).toBe(param);
    expect(error.message).toMatch(reason);
  });

  it("the simulated provider takes plain text (text.format text)", () => {
    expect(prepare("sim-model", { text: { format: { type: "text" } } })().configs.passthrough).toEqual({});
  });

  it("stop sequences: refused on an upstream that takes Responses API requests (that API has none), kept on one that is sent chat completions", () => {
    const error = refusal(prepare("native-model", { stop: ["END"] }));
    expect(error.code).toBe("unsupported_parameter");
    expect(error.param).toBe("stop");
    expect(error.message).toMatch(/Responses API/);
    expect(prepare("chat-model", { stop: ["END"] })().configs.stop).toEqual(["END"]);
    expect(prepare("sim-model", { stop: "END" })().configs.stop).toEqual(["END"]);
  });

  it.each(["chat-model", "native-model"])("an OpenAI-compatible upstream (%s) takes structured output and tools", (model) => {
    const prepared = prepare(model, { text: { format: { type: "json_schema", name: "answer", schema, strict: true } }, tools: [tool], tool_choice: "auto" })();
    expect(prepared.configs.passthrough).toMatchObject({
      response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } },
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } }],
      tool_choice: "auto",
    });
  });
});

describe("capabilities of a model with several upstreams", () => {
  const mixed = resolveModelsConfig(
    {
      providers: { sim: { type: "simulated" }, chat: { type: "openai", base_url: "http://upstream.test/v1" }, native: { type: "openai", base_url: "http://upstream.test/v1", responses_api: true } },
      models: [
        { id: "chat-then-sim", upstreams: [{ provider: "chat" }, { provider: "sim" }] },
        { id: "chat-then-native", upstreams: [{ provider: "chat" }, { provider: "native" }] },
        { id: "two-chats", upstreams: [{ provider: "chat" }, { provider: "chat", name: "chat-2" }] },
      ],
    },
    {},
  );
  const prepareOn = (model: string, fields: Partial<ResponseCreateRequest>) => () => prepareTask(mixed, responseTaskInput(responseCreateRequestSchema.parse({ model, input: "hello", ...fields })));

  it("refuses a field that any one of the model's upstreams cannot honour (a task may run on any of them)", () => {
    const tools = refusal(prepareOn("chat-then-sim", { tools: [tool] }));
    expect([tools.param, tools.code]).toEqual(["tools", "unsupported_parameter"]);
    expect(tools.message).toMatch(/cannot call tools; .*\(model chat-then-sim, upstream sim\)$/);
    const stop = refusal(prepareOn("chat-then-native", { stop: ["END"] }));
    expect(stop.param).toBe("stop");
  });

  it("takes what every upstream honours", () => {
    expect(prepareOn("two-chats", { tools: [tool], stop: ["END"] })().configs.stop).toEqual(["END"]);
    expect(prepareOn("chat-then-sim", { stop: ["END"] })().configs.stop).toEqual(["END"]);
  });
});
