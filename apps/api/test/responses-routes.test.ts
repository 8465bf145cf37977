// OpenAI's Responses API beyond create and retrieve, through the official `openai` package: cancel, delete,
// input items, previous_response_id chaining, store: false, place in line, tools and text.format, errors,
// idempotency and the task history.
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import { signedInAccount } from "./account-support";
import { flexTask, sdkClient, sdkError, taskIdOf } from "./openai-sdk-support";

const FAST = "gemma-7b";
// No worker serves this model (but for one test): its responses stay queued.
const PARKED = "parked-model";
// Answered by the OpenAI fixture over real HTTP.
const UPSTREAM = "fixture-model";

let fixture: OpenAIFixture;
let stack: TestStack;
let client: OpenAI;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    worker: false,
    models: {
      providers: {
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
        steady: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
        upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 },
      },
      models: [
        { id: FAST, provider: "fast", concurrency: 4 },
        { id: PARKED, provider: "steady", concurrency: 1 },
        { id: UPSTREAM, provider: "upstream", concurrency: 4 },
      ],
    },
  });
  await stack.startWorker({ WORKER_MODELS: `${FAST},${UPSTREAM}` });
  client = sdkClient(stack);
});
afterAll(async () => {
  await stack.close();
  await fixture.close();
});

/** The chat-completions bodies the fixture received since `from`. */
const upstreamBodies = (from: number) =>
  fixture.requests.slice(from).filter((request) => request.path === "/v1/chat/completions").map((request) => request.body as Record<string, unknown>);

const WEATHER_TOOL = {
  type: "function" as const,
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

/** The response as the API sent it: the SDK adds `output_text` to what create and retrieve answer, not to cancel's. */
const withoutOutputText = ({ output_text: _text, ...rest }: OpenAI.Responses.Response) => rest;

/** Our fields on the response object (the SDK's type does not know them). */
type Ours = { task_id: string; queue?: { position: number | null; eta_seconds: number | null } | null };
const ours = (response: object) => response as Ours;

async function finished(id: string) {
  return eventually(async () => {
    const current = await client.responses.retrieve(id);
    expect(["completed", "incomplete", "failed", "cancelled"]).toContain(current.status);
    return current;
  });
}

describe("cancel", () => {
  it("cancels a queued response, which then stays cancelled; a second cancel answers the same", async () => {
    const created = await client.responses.create({ model: PARKED, input: "wait in line", background: true });
    expect(created.status).toBe("queued");

    const cancelled = await client.responses.cancel(created.id);
    expect(cancelled.id).toBe(created.id);
    expect(cancelled.status).toBe("cancelled");
    for (let i = 0; i < 3; i++) expect((await client.responses.retrieve(created.id)).status).toBe("cancelled");
    expect(withoutOutputText(await client.responses.cancel(created.id))).toEqual(withoutOutputText(await client.responses.retrieve(created.id)));
    expect((await flexTask(stack, ours(created).task_id)).status).toBe("CANCELLED");
  });

  it("cancels a running response: the upstream request is aborted and the status stays cancelled", async () => {
    const aborted = fixture.abortedRequests();
    const created = await client.responses.create({ model: UPSTREAM, input: `${"many words ".repeat(60)}[[fixture:tokenDelayMs=50]]`, background: true });
    await eventually(async () => {
      const current = await client.responses.retrieve(created.id);
      expect(current.status).toBe("in_progress");
      expect(current.output_text.length).toBeGreaterThan(0);
      return true;
    });

    const cancelled = await client.responses.cancel(created.id);
    expect(cancelled.status).toBe("cancelled");
    await eventually(async () => (fixture.abortedRequests() > aborted ? true : undefined), { what: "the upstream request to be aborted" });
    for (let i = 0; i < 5; i++) {
      expect((await client.responses.retrieve(created.id)).status).toBe("cancelled");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it("answers a finished background response unchanged, and refuses a response not created in the background", async () => {
    const created = await client.responses.create({ model: FAST, input: "be done", background: true });
    const done = await finished(created.id);
    expect(withoutOutputText(await client.responses.cancel(created.id))).toEqual(withoutOutputText(done));

    const foreground = await client.responses.create({ model: FAST, input: "answered at once" });
    const error = await sdkError(() => client.responses.cancel(foreground.id));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toContain("background");
    expect((await client.responses.retrieve(foreground.id)).status).toBe(foreground.status);
  });
});

describe("a waiting (non-background) response", () => {
  it("is cancelled when its client leaves, and its upstream request aborted", async () => {
    const aborted = fixture.abortedRequests();
    const leaving = new AbortController();
    const call = client.responses.create({ model: UPSTREAM, input: `${"slow words ".repeat(60)}[[fixture:tokenDelayMs=50]]` }, { signal: leaving.signal }).withResponse();
    call.catch(() => undefined);
    const taskId = await eventually(async () => {
      const history = await json(await stack.request("/v1/ai/tasks?limit=5"));
      const row = (history.data.data.tasks as { task_id: string; status: string; response: string }[]).find((task) => task.response.includes("slow words"));
      return row?.status === "RUNNING" ? row.task_id : undefined;
    });
    leaving.abort();
    await expect(call).rejects.toThrow();
    await eventually(async () => ((await flexTask(stack, taskId)).status === "CANCELLED" ? true : undefined), { what: "the response to be cancelled" });
    await eventually(async () => (fixture.abortedRequests() > aborted ? true : undefined), { what: "the upstream request to be aborted" });
  });

  it("with store: false is not answered again for a repeated Idempotency-Key", async () => {
    const headers = { "Idempotency-Key": `forget-${Date.now()}` };
    const first = await client.responses.create({ model: FAST, input: "once only", store: false }, { headers });
    expect(first.status).toBe("completed");
    const again = await sdkError(() => client.responses.create({ model: FAST, input: "once only", store: false }, { headers }));
    expect(again).toBeInstanceOf(OpenAI.ConflictError);
    expect(again.code).toBe("response_not_stored");
  });
});

describe("delete", () => {
  it("deletes a response: retrieve, input items and chaining no longer find it; the task stays in the history without its content", async () => {
    const created = await client.responses.create({ model: FAST, input: "something private", background: true });
    const done = await finished(created.id);
    const { response } = await client.responses.delete(created.id).withResponse();
    expect(response.status).toBe(200);

    expect(await sdkError(() => client.responses.retrieve(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.inputItems.list(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.cancel(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.delete(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await sdkError(() => client.responses.create({ model: FAST, input: "more", previous_response_id: created.id }));
    expect([chained.status, chained.code, chained.param]).toEqual([400, "previous_response_not_found", "previous_response_id"]);

    const task = await flexTask(stack, ours(created).task_id);
    expect(task).toMatchObject({ status: "COMPLETED", endpoint: "response", response: "" });
    expect(task.usage.completion_tokens).toBe(done.usage?.output_tokens);
    expect(JSON.stringify(task)).not.toContain("something private");
    // Nor does its event stream replay the text.
    expect(await stack.api.deps.log.readAfter(ours(created).task_id, "0")).toEqual([]);
    const events = await stack.request(`/v1/ai/tasks/${ours(created).task_id}/events`);
    expect(await events.text()).not.toContain(done.output_text.split(" ").slice(0, 4).join(" "));
  });

  it("cancels an unfinished response before deleting it", async () => {
    const created = await client.responses.create({ model: PARKED, input: "never runs", background: true });
    await client.responses.delete(created.id);
    expect(await sdkError(() => client.responses.retrieve(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await flexTask(stack, ours(created).task_id)).status).toBe("CANCELLED");
  });
});

describe("input items", () => {
  it("lists this request's own input items, newest first by default, in pages", async () => {
    const input = ["one", "two", "three", "four", "five"].map((text, i) => ({ role: i % 2 === 0 ? ("user" as const) : ("assistant" as const), content: text }));
    const created = await client.responses.create({ model: FAST, instructions: "Be brief.", input, background: true });

    const all = await client.responses.inputItems.list(created.id);
    const texts = (items: typeof all.data) => items.map((item) => (item.type === "message" ? item.content.map((part) => ("text" in part ? part.text : "")).join("") : item.type));
    expect(texts(all.data)).toEqual(["five", "four", "three", "two", "one"]);
    expect(all.data.every((item) => typeof item.id === "string" && item.id.length > 0)).toBe(true);
    expect(new Set(all.data.map((item) => item.id)).size).toBe(5);

    const first = await client.responses.inputItems.list(created.id, { order: "asc", limit: 2 });
    expect(texts(first.data)).toEqual(["one", "two"]);
    expect(first.has_more).toBe(true);
    const second = await client.responses.inputItems.list(created.id, { order: "asc", limit: 2, after: first.data[1]!.id });
    expect(texts(second.data)).toEqual(["three", "four"]);
    const third = await client.responses.inputItems.list(created.id, { order: "asc", limit: 2, after: second.data[1]!.id });
    expect(texts(third.data)).toEqual(["five"]);
    expect(third.has_more).toBe(false);

    // The raw list shape.
    const raw = await json(await stack.request(`/v1/responses/${created.id}/input_items?limit=2`));
    expect(raw).toMatchObject({ object: "list", first_id: all.data[0]!.id, last_id: all.data[1]!.id, has_more: true });
    // The SDK's auto-pagination walks every page.
    const walked: string[] = [];
    for await (const item of client.responses.inputItems.list(created.id, { limit: 2 })) walked.push(item.id);
    expect(walked).toEqual(all.data.map((item) => item.id));
  });
});

describe("previous_response_id", () => {
  it("continues the conversation of a chain of responses: the upstream receives every turn, without the earlier instructions", async () => {
    const from = fixture.requests.length;
    const first = await client.responses.create({ model: UPSTREAM, instructions: "Be brief.", input: "My name is Ada." });
    const second = await client.responses.create({ model: UPSTREAM, previous_response_id: first.id, input: "What is my name?" });
    const third = await client.responses.create({ model: UPSTREAM, instructions: "Answer in French.", previous_response_id: second.id, input: [{ role: "user", content: "And again?" }] });
    expect(third.previous_response_id).toBe(second.id);
    expect(third.status).toBe("completed");

    const bodies = upstreamBodies(from);
    expect(bodies).toHaveLength(3);
    expect(bodies[2]!.messages).toEqual([
      { role: "system", content: "Answer in French." },
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output_text },
      { role: "user", content: "What is my name?" },
      { role: "assistant", content: second.output_text },
      { role: "user", content: "And again?" },
    ]);
    // Input items are the request's own.
    const items = await client.responses.inputItems.list(third.id);
    expect(items.data).toHaveLength(1);
  });

  it("round-trips a function call: the function_call_output goes upstream as a tool message after the call", async () => {
    const from = fixture.requests.length;
    const first = await client.responses.create({ model: UPSTREAM, input: "Weather in Paris?", tools: [WEATHER_TOOL], tool_choice: "auto" });
    const [call] = first.output;
    if (call?.type !== "function_call") throw new Error(`expected a function_call item, got ${JSON.stringify(first.output)}`);
    expect(call).toMatchObject({ name: "get_weather", arguments: "{}", status: "completed" });
    expect(call.call_id).toEqual(expect.any(String));

    const second = await client.responses.create({
      model: UPSTREAM,
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: '{"celsius": 21}' }],
    });
    expect(second.status).toBe("completed");
    const bodies = upstreamBodies(from);
    expect(bodies[0]).toMatchObject({
      tools: [{ type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: WEATHER_TOOL.parameters, strict: false } }],
      tool_choice: "auto",
    });
    expect(bodies[1]!.messages).toEqual([
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: call.call_id, type: "function", function: { name: "get_weather", arguments: "{}" } }] },
      { role: "tool", content: '{"celsius": 21}', tool_call_id: call.call_id },
    ]);
    const items = await client.responses.inputItems.list(second.id);
    expect(items.data).toEqual([expect.objectContaining({ type: "function_call_output", call_id: call.call_id, output: '{"celsius": 21}' })]);
  });

  it("refuses an unknown, another tenant's, or a still running previous response", async () => {
    const unknown = await sdkError(() => client.responses.create({ model: FAST, input: "x", previous_response_id: "resp_0123456789abcdef0123456789abcdef" }));
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
    expect([unknown.code, unknown.param]).toEqual(["previous_response_not_found", "previous_response_id"]);

    const tenant = await signedInAccount(stack);
    const theirs = await sdkClient(stack, tenant.token).responses.create({ model: FAST, input: "mine" });
    const malformed = await sdkError(() => client.responses.create({ model: FAST, input: "x", previous_response_id: "resp_nothing" }));
    expect(malformed.code).toBe("previous_response_not_found");
    const other = await signedInAccount(stack);
    const crossed = await sdkError(() => sdkClient(stack, other.token).responses.create({ model: FAST, input: "x", previous_response_id: theirs.id }));
    expect([crossed.status, crossed.code]).toEqual([400, "previous_response_not_found"]);

    const queued = await client.responses.create({ model: PARKED, input: "still waiting", background: true });
    const running = await sdkError(() => client.responses.create({ model: FAST, input: "x", previous_response_id: queued.id }));
    expect(running).toBeInstanceOf(OpenAI.BadRequestError);
    expect(running.param).toBe("previous_response_id");
    expect(running.message).toContain("queued");
    await client.responses.cancel(queued.id);
  });
});

describe("store: false", () => {
  it("answers the response but keeps it for neither retrieval nor chaining; the task row keeps its usage only", async () => {
    const answered = await client.responses.create({ model: FAST, input: "forget me", store: false });
    expect(answered.status).toBe("completed");
    expect((answered as unknown as { store: boolean }).store).toBe(false);
    expect(answered.output_text.length).toBeGreaterThan(0);

    expect(await sdkError(() => client.responses.retrieve(answered.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.inputItems.list(answered.id))).toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await sdkError(() => client.responses.create({ model: FAST, input: "more", previous_response_id: answered.id }));
    expect(chained.code).toBe("previous_response_not_found");

    const task = await flexTask(stack, ours(answered).task_id);
    expect(task).toMatchObject({ status: "COMPLETED", endpoint: "response", response: "" });
    expect(task.usage.completion_tokens).toBe(answered.usage?.output_tokens);
    expect(JSON.stringify(task)).not.toContain("forget me");
    expect(await stack.api.deps.log.readAfter(ours(answered).task_id, "0")).toEqual([]);
  });
});

describe("store: false with stream: true", () => {
  it("streams the response, then erases it like a waited one", async () => {
    const { data: stream, response } = await client.responses.create({ model: FAST, input: "stream and forget", store: false, stream: true }).withResponse();
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toMatch(/^response\.(completed|incomplete)$/);
    const taskId = taskIdOf(response);
    const task = await eventually(async () => {
      const current = await flexTask(stack, taskId);
      return current.response === "" ? current : undefined;
    }, { what: "the streamed store: false response to be erased" });
    expect(task.usage.completion_tokens).toBeGreaterThan(0);
    expect(JSON.stringify(task)).not.toContain("stream and forget");
    expect(await stack.api.deps.log.readAfter(taskId, "0")).toEqual([]);
  });
});

describe("place in line", () => {
  it("gives a queued response its place, an ETA field and openai-poll-after-ms; a finished one has neither", async () => {
    const first = await client.responses.create({ model: PARKED, input: "first", background: true }).withResponse();
    const second = await client.responses.create({ model: PARKED, input: "second", background: true }).withResponse();
    expect(ours(first.data).queue).toEqual({ position: 1, eta_seconds: null });
    expect(ours(second.data).queue).toEqual({ position: 2, eta_seconds: null });
    for (const { response } of [first, second]) {
      const after = Number(response.headers.get("openai-poll-after-ms"));
      expect(after).toBeGreaterThanOrEqual(100);
      expect(after).toBeLessThanOrEqual(5_000);
    }
    const again = await client.responses.retrieve(second.data.id).withResponse();
    expect(ours(again.data).queue).toEqual({ position: 2, eta_seconds: null });
    expect(again.response.headers.get("openai-poll-after-ms")).not.toBeNull();

    const done = await client.responses.create({ model: FAST, input: "quick", background: true });
    await finished(done.id);
    const final = await client.responses.retrieve(done.id).withResponse();
    expect(ours(final.data).queue ?? null).toBeNull();
    expect(final.response.headers.get("openai-poll-after-ms")).toBeNull();
    await Promise.all([first, second].map(({ data }) => client.responses.cancel(data.id)));
  });
});

describe("place in line, once the queue has run times to go by", () => {
  it("gives an ETA, and openai-poll-after-ms follows it", async () => {
    // A worker for the parked model runs two responses, leaving run times on its queue, then stops.
    const served = await stack.startWorker({ WORKER_MODELS: PARKED });
    const ran = await Promise.all(["one", "two"].map((input) => client.responses.create({ model: PARKED, input, max_output_tokens: 8 })));
    expect(ran.map((response) => response.status)).toEqual(["incomplete", "incomplete"]);
    await served.close();

    const waiting = [];
    for (const input of ["a", "b", "c"]) waiting.push(await client.responses.create({ model: PARKED, input, background: true }).withResponse());
    for (const [i, { data, response }] of waiting.entries()) {
      const queue = ours(data).queue!;
      expect(queue.position).toBe(i + 1);
      expect(queue.eta_seconds).toBeGreaterThan(0);
      expect(Number(response.headers.get("openai-poll-after-ms"))).toBe(Math.min(5_000, Math.max(100, Math.round(queue.eta_seconds! * 1000))));
    }
    // Concurrency 1: each response waits for those ahead of it.
    const etas = waiting.map(({ data }) => ours(data).queue!.eta_seconds!);
    expect(etas[1]).toBeGreaterThan(etas[0]!);
    expect(etas[2]).toBeGreaterThan(etas[1]!);
    await Promise.all(waiting.map(({ data }) => client.responses.cancel(data.id)));
  });
});

describe("tools and text.format", () => {
  it("forwards a json_schema text.format to the upstream as response_format", async () => {
    const from = fixture.requests.length;
    const schema = { type: "object", properties: { name: { type: "string" } }, required: ["name"], additionalProperties: false };
    const response = await client.responses.create({ model: UPSTREAM, input: "A name, please.", text: { format: { type: "json_schema", name: "person", schema, strict: true } } });
    expect(response.text?.format).toMatchObject({ type: "json_schema", name: "person" });
    expect(upstreamBodies(from)[0]!.response_format).toEqual({ type: "json_schema", json_schema: { name: "person", schema, strict: true } });
  });

  it("refuses text.format and tools on a model that cannot honour them, naming the Responses field", async () => {
    const format = await sdkError(() => client.responses.create({ model: FAST, input: "x", text: { format: { type: "json_object" } } }));
    expect(format).toBeInstanceOf(OpenAI.BadRequestError);
    expect(format.param).toBe("text.format");
    expect(format.message).toContain("text.format: the simulated provider");
    expect(format.message).not.toContain("response_format");

    const tools = await sdkError(() => client.responses.create({ model: FAST, input: "x", tools: [WEATHER_TOOL] }));
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tools.param).toBe("tools");
  });
});

describe("errors as the SDK's classes", () => {
  it("answers 404 for another tenant's response and for ids that are not ours, on every route", async () => {
    const tenant = await signedInAccount(stack);
    const theirs = await sdkClient(stack, tenant.token).responses.create({ model: PARKED, input: "theirs", background: true });
    const other = sdkClient(stack, (await signedInAccount(stack)).token);
    for (const call of [() => other.responses.retrieve(theirs.id), () => other.responses.cancel(theirs.id), () => other.responses.delete(theirs.id), () => other.responses.inputItems.list(theirs.id)]) {
      const error = await sdkError(call);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error.message).toContain(theirs.id);
    }
    for (const id of ["resp_nothing", "chatcmpl-0123456789abcdef0123456789abcdef", "resp_0123456789abcdef0123456789abcdef"]) {
      expect(await sdkError(() => client.responses.retrieve(id))).toBeInstanceOf(OpenAI.NotFoundError);
    }
    expect((await sdkClient(stack, tenant.token).responses.retrieve(theirs.id)).status).toBe("queued");
    await sdkClient(stack, tenant.token).responses.cancel(theirs.id);
  });

  it("answers 401, 404 for an unknown model, and 400 with param for a bad field", async () => {
    expect(await sdkError(() => sdkClient(stack, "not-a-key").responses.create({ model: FAST, input: "x" }))).toBeInstanceOf(OpenAI.AuthenticationError);
    const model = await sdkError(() => client.responses.create({ model: "no-such-model", input: "x" }));
    expect(model).toBeInstanceOf(OpenAI.NotFoundError);
    expect(model.param).toBe("model");
    const bad = await sdkError(() => client.responses.create({ model: FAST, input: "x", temperature: 5 }));
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe("temperature");
    const tokens = await sdkError(() => client.responses.create({ model: FAST, input: "x", max_output_tokens: 10_000_000 }));
    expect(tokens.param).toBe("max_output_tokens");
    const order = await sdkError(() => client.responses.inputItems.list("resp_0123456789abcdef0123456789abcdef", { order: "sideways" as "asc" }));
    expect([order.status, order.param]).toEqual([400, "order"]);
  });

  it("replays the same response for a repeated Idempotency-Key", async () => {
    const headers = { "Idempotency-Key": `resp-${Date.now()}` };
    const first = await client.responses.create({ model: FAST, input: "once", background: true }, { headers }).withResponse();
    const again = await client.responses.create({ model: FAST, input: "once", background: true }, { headers }).withResponse();
    expect(again.data.id).toBe(first.data.id);
    expect(again.response.headers.get("idempotent-replayed")).toBe("true");
  });
});

describe("responses as tasks", () => {
  it("shows responses in the task history with endpoint response", async () => {
    const { data, response } = await client.responses.create({ model: FAST, input: "in the history", background: true }).withResponse();
    const taskId = taskIdOf(response);
    expect(ours(data).task_id).toBe(taskId);
    const history = await json(await stack.request("/v1/ai/tasks?limit=200"));
    const row = (history.data.data.tasks as { task_id: string; endpoint: string }[]).find((task) => task.task_id === taskId);
    expect(row?.endpoint).toBe("response");
  });
});

describe("per-key limits", () => {
  let limited: TestStack;
  afterAll(async () => {
    await limited?.close();
  });

  it("answers RateLimitError past the key's rate limit", async () => {
    limited = await startTestStack({ env: { RATE_LIMIT_PER_MINUTE: "2" } });
    const tenant = await signedInAccount(limited);
    const sdk = sdkClient(limited, tenant.token);
    await sdk.responses.create({ model: FAST, input: "one", background: true });
    await sdk.responses.create({ model: FAST, input: "two", background: true });
    const error = await sdkError(() => sdk.responses.create({ model: FAST, input: "three", background: true }));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe("rate_limit_exceeded");
  });
});
