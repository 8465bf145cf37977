// OpenAI's Responses API event stream through the official `openai` package: created with `stream: true`
// (background or not), replayed with `retrieve(id, {stream: true, starting_after})` and
// `responses.stream({response_id, starting_after})` through a second API process, while running and after
// the end, after the response's Redis event stream is gone: the same events with the same numbers.
import { type OpenAIFixture, type ServiceProcess, eventually, readSse, spawnService, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { sdkClient, sdkError } from "./openai-sdk-support";

const SLOW = "llama-3.1-8b-instruct";
const FAST = "gemma-7b";
const UPSTREAM = "fixture-model";

let fixture: OpenAIFixture;
let stack: TestStack;
let other: ServiceProcess;
/** Through this test's API process (A) and a process of its own (B). */
let a: OpenAI;
let b: OpenAI;
let bUrl: string;

beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: {
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
        slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
        upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 },
      },
      models: [
        { id: FAST, provider: "fast", concurrency: 8 },
        { id: SLOW, provider: "slow", concurrency: 4 },
        { id: UPSTREAM, provider: "upstream", concurrency: 4 },
      ],
    },
  });
  other = await spawnService("apps/api/src/main.ts", { ...stack.env, PORT: "0", LOG_LEVEL: "info", API_PROCESSES: "1" }, /"msg":"api listening"/);
  bUrl = /"url":"(http:\/\/[^"]+)"/.exec(other.output())![1]!;
  a = sdkClient(stack);
  b = new OpenAI({ baseURL: `${bUrl}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await other?.stop();
  await stack?.close();
  await fixture?.close();
});

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const events: ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Every event of a response, replayed with `retrieve(id, {stream: true})` (from 0, or after N). */
async function replay(client: OpenAI, id: string, startingAfter?: number): Promise<ResponseStreamEvent[]> {
  return collect(await client.responses.retrieve(id, { stream: true, ...(startingAfter === undefined ? {} : { starting_after: startingAfter }) }));
}

/** The same through the SDK's resume helper, which replays from 0 and filters itself. */
async function resumeHelper(client: OpenAI, id: string, startingAfter: number): Promise<ResponseStreamEvent[]> {
  const helper = client.responses.stream({ response_id: id, starting_after: startingAfter });
  const events: ResponseStreamEvent[] = [];
  for await (const event of helper) events.push(event);
  return events;
}

const responseIdOf = (events: ResponseStreamEvent[]) => (events[0] as Extract<ResponseStreamEvent, { type: "response.created" }>).response.id;
const taskIdOf = (responseId: string) => responseId.slice("resp_".length);
const textOf = (events: ResponseStreamEvent[]) =>
  events
    .filter((event): event is Extract<ResponseStreamEvent, { type: "response.output_text.delta" }> => event.type === "response.output_text.delta")
    .map((event) => event.delta)
    .join("");
/** A response as retrieve answers it, less the SDK's own `output_text` convenience (not on the wire). */
async function retrieved(client: OpenAI, id: string): Promise<unknown> {
  const { output_text: _convenience, ...response } = await client.responses.retrieve(id);
  return JSON.parse(JSON.stringify(response));
}
const finalOf = (events: ResponseStreamEvent[]) => events[events.length - 1] as Extract<ResponseStreamEvent, { type: "response.completed" | "response.incomplete" | "response.failed" }>;

/** The sequence numbers are 0, 1, 2, ... in order; the stream opens with created and ends with a final event. */
function expectWellFormed(events: ResponseStreamEvent[]): void {
  expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
  expect(events[0]!.type).toBe("response.created");
  expect(["response.completed", "response.incomplete", "response.failed"]).toContain(events[events.length - 1]!.type);
}

/** The starting_after points a test replays from: the start, inside the lifecycle events, among the deltas, the last event. */
const pointsOf = (events: ResponseStreamEvent[]) => [0, 1, 3, Math.floor(events.length / 2), events.length - 2, events.length - 1];

async function deleteRedisStream(taskId: string): Promise<void> {
  const { redis, keys } = stack.api.deps;
  await redis.del(keys.taskEvents(taskId));
  expect(await redis.exists(keys.taskEvents(taskId))).toBe(0);
}

/** The task row's first choice as Postgres holds it (the JSON the worker wrote). */
async function storedChoice(taskId: string): Promise<{ text: string; pieces?: (number | [number, number])[]; toolCalls: { function: { arguments: string } }[] }> {
  const rows = await stack.api.deps.db.$queryRaw<{ choices: unknown }[]>`SELECT choices FROM tasks WHERE task_id = ${taskId}`;
  return (rows[0]!.choices as { text: string; pieces?: (number | [number, number])[]; toolCalls: { function: { arguments: string } }[] }[])[0]!;
}

describe("a response's event stream", () => {
  it("streams a non-background response: created, in_progress, the message's events, its deltas joined are its text", async () => {
    const events = await collect(await a.responses.create({ model: SLOW, input: "Tell me about rivers.", max_output_tokens: 12, stream: true }));

    expectWellFormed(events);
    const types = events.map((event) => event.type);
    expect(types.slice(0, 5)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta"]);
    expect(types.slice(-4, -1)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done"]);
    expect(types.filter((type) => type === "response.output_text.delta").length).toBeGreaterThan(1);
    const final = finalOf(events);
    expect(final.response.background).toBe(false);
    const retrieved = await a.responses.retrieve(final.response.id);
    expect(final.type).toBe(retrieved.status === "completed" ? "response.completed" : "response.incomplete");
    expect(textOf(events)).toBe(retrieved.output_text);
    expect(textOf(events).length).toBeGreaterThan(0);
  });

  it("streams a background response (queued at 1) with no [DONE], each frame named after its event's type", async () => {
    const res = await fetch(`${stack.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: FAST, input: "Say something.", max_output_tokens: 10, background: true, stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const frames = await readSse(res);
    expect(frames.some((frame) => frame.data.includes("[DONE]"))).toBe(false);
    const events = frames.map((frame) => JSON.parse(frame.data) as ResponseStreamEvent);
    frames.forEach((frame, index) => expect(frame.event).toBe(events[index]!.type));
    expectWellFormed(events);
    expect(events.slice(0, 3).map((event) => [event.type, (event as { response: { status: string } }).response.status])).toEqual([
      ["response.created", "queued"],
      ["response.queued", "queued"],
      ["response.in_progress", "in_progress"],
    ]);
    expect(finalOf(events).response.background).toBe(true);
  });

  it("replays a finished response through a second API process, from 0 and after several points, identically, also once its Redis stream is gone", async () => {
    const live = await collect(await a.responses.create({ model: FAST, input: "Count to ten.", max_output_tokens: 16, background: true, stream: true }));
    expectWellFormed(live);
    const id = responseIdOf(live);

    const check = async () => {
      expect(await replay(b, id)).toEqual(live);
      for (const point of pointsOf(live)) {
        expect(await replay(b, id, point)).toEqual(live.filter((event) => event.sequence_number > point));
        expect(await resumeHelper(b, id, point)).toEqual(live.filter((event) => event.sequence_number > point));
      }
    };
    await check();
    await deleteRedisStream(taskIdOf(id));
    await check();
  });

  it("a response created without stream is streamable the same way, on either process", async () => {
    const created = await a.responses.create({ model: FAST, input: "Name three colours.", max_output_tokens: 10, background: true });
    const done = await eventually(async () => {
      const current = await a.responses.retrieve(created.id);
      return current.status === "completed" || current.status === "incomplete" ? current : undefined;
    });
    const fromA = await replay(a, created.id);
    expectWellFormed(fromA);
    expect(textOf(fromA)).toBe(done.output_text);
    expect(finalOf(fromA).response).toEqual(await retrieved(b, created.id));
    expect(await replay(b, created.id)).toEqual(fromA);
  });

  it("resumes a running response on the second process from several points: the same events as its replay after the end", async () => {
    const created = await a.responses.create({ model: SLOW, input: "Describe the sea.", max_output_tokens: 40, background: true });
    // Joined at once (queued or just started), and again once output has been written.
    const early = [replay(b, created.id), replay(b, created.id, 1), resumeHelper(b, created.id, 2)];
    await eventually(async () => ((await a.responses.retrieve(created.id)).output_text.length > 10 ? true : undefined), { intervalMs: 20 });
    const late = [replay(b, created.id), replay(b, created.id, 6), resumeHelper(b, created.id, 8)];
    const [full, after1, helperAfter2, lateFull, lateAfter6, lateHelperAfter8] = await Promise.all([...early, ...late]);

    const final = await replay(a, created.id);
    expectWellFormed(final);
    expect(finalOf(final).response.status).not.toBe("in_progress");
    const after = (n: number) => final.filter((event) => event.sequence_number > n);
    expect(full).toEqual(final);
    expect(after1).toEqual(after(1));
    expect(helperAfter2).toEqual(after(2));
    expect(lateFull).toEqual(final);
    expect(lateAfter6).toEqual(after(6));
    expect(lateHelperAfter8).toEqual(after(8));
  });

  it("finalResponse() of the SDK's stream helper gives the completed response", async () => {
    const helper = a.responses.stream({ model: FAST, input: "Say hi.", max_output_tokens: 8 });
    const response = await helper.finalResponse();
    const retrieved = await a.responses.retrieve(response.id);
    expect(["completed", "incomplete"]).toContain(response.status);
    expect(response.status).toBe(retrieved.status);
    expect(response.output_text).toBe(retrieved.output_text);
    expect(response.output_text.length).toBeGreaterThan(0);
  });

  it("cancels a non-background streaming response whose client leaves; a background one runs on", async () => {
    const leaveAfterFirstDelta = async (background: boolean) => {
      const stream = await a.responses.create({ model: SLOW, input: "A long story, please.", max_output_tokens: background ? 30 : 400, stream: true, background });
      let id = "";
      for await (const event of stream) {
        if (event.type === "response.created") id = event.response.id;
        if (event.type === "response.output_text.delta") break; // leaves: the SDK aborts the request
      }
      return id;
    };
    const foreground = await leaveAfterFirstDelta(false);
    const background = await leaveAfterFirstDelta(true);

    await eventually(async () => ((await a.responses.retrieve(foreground)).status === "cancelled" ? true : undefined), { what: "the non-background response cancelled" });
    const ran = await eventually(async () => {
      const current = await a.responses.retrieve(background);
      return current.status === "completed" || current.status === "incomplete" ? current : undefined;
    }, { what: "the background response finished" });
    expect(ran.output_text.length).toBeGreaterThan(0);

    // The cancelled response's stream ends with response.incomplete, its status `cancelled`, as retrieve shows it.
    const events = await replay(b, foreground);
    expectWellFormed(events);
    expect(finalOf(events).type).toBe("response.incomplete");
    expect(finalOf(events).response).toEqual(await retrieved(a, foreground));
    expect(finalOf(events).response.status).toBe("cancelled");
  });

  it("records the streamed pieces in the task row (Responses tasks only): their lengths cut the text as it was streamed", async () => {
    const live = await collect(await a.responses.create({ model: FAST, input: "Some words.", max_output_tokens: 12, stream: true }));
    const choice = await storedChoice(taskIdOf(responseIdOf(live)));
    const deltas = live.filter((event) => event.type === "response.output_text.delta").map((event) => (event as { delta: string }).delta);
    expect(choice.pieces).toEqual(deltas.map((delta) => delta.length));
    expect(deltas.join("")).toBe(choice.text);

    // Nothing changes for other tasks: a chat completion keeps no pieces.
    const chat = await a.chat.completions.create({ model: FAST, messages: [{ role: "user", content: "Some words." }], max_tokens: 12 }).withResponse();
    const chatChoice = await storedChoice(chat.response.headers.get("x-task-id")!);
    expect(chatChoice.text.length).toBeGreaterThan(0);
    expect(chatChoice.pieces).toBeUndefined();
  });

  it("streams a function call from an upstream: item added, arguments deltas, done, completed; replayed identically", async () => {
    const live = await collect(
      await a.responses.create({
        model: UPSTREAM,
        input: "What is the weather in Paris?",
        tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }],
        background: true,
        stream: true,
      }),
    );
    expectWellFormed(live);
    expect(live.map((event) => event.type)).toEqual([
      "response.created",
      "response.queued",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const id = responseIdOf(live);
    const call = (await a.responses.retrieve(id)).output[0];
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: "{}", status: "completed" });
    expect(live[3]).toMatchObject({ item: { type: "function_call", id: call!.id, call_id: (call as { call_id: string }).call_id, name: "get_weather", arguments: "", status: "in_progress" } });
    expect(await storedChoice(taskIdOf(id))).toMatchObject({ pieces: [[0, 0], [0, 2]] });
    await deleteRedisStream(taskIdOf(id));
    expect(await replay(b, id)).toEqual(live);
  });

  it("ends a live stream with an error event when the response is retried after output was sent; read again from 0 it matches the end", async () => {
    fixture.setBehaviour({ resetAfterTokens: 3, tokenDelayMs: 40 });
    try {
      const stream = await a.responses.create({ model: UPSTREAM, input: "Retry me, echoing this sentence word by word so that it has many tokens.", background: true, stream: true });
      const events: ResponseStreamEvent[] = [];
      const error = await sdkError(async () => {
        for await (const event of stream) {
          events.push(event);
          // The first attempt is under way: the next one will be well behaved.
          if (event.type === "response.output_text.delta") fixture.setBehaviour({ tokenDelayMs: 5 });
        }
      });
      expect(error.message).toMatch(/retried.*read it again from the start/);
      expect(events.some((event) => event.type === "response.output_text.delta")).toBe(true);
      const id = responseIdOf(events);
      const done = await eventually(async () => {
        const current = await a.responses.retrieve(id);
        return current.status === "completed" ? current : undefined;
      }, { what: "the retried response completed" });
      const again = await replay(b, id);
      expectWellFormed(again);
      expect(textOf(again)).toBe(done.output_text);
      // Its lifecycle events are the ones the interrupted stream had sent, with the same numbers.
      expect(again.slice(0, 3)).toEqual(events.slice(0, 3));
    } finally {
      fixture.setBehaviour({});
    }
  });

  it("ends a failed response with response.failed carrying its error, as retrieve shows it, live and replayed", async () => {
    const live = await collect(await a.responses.create({ model: UPSTREAM, input: "[[fixture:status=400]] Fail.", background: true, stream: true }));
    expectWellFormed(live);
    expect(live.map((event) => event.type)).toEqual(["response.created", "response.queued", "response.in_progress", "response.failed"]);
    const failed = finalOf(live).response;
    expect(failed.status).toBe("failed");
    expect(failed.error?.message.length).toBeGreaterThan(0);
    expect(failed).toEqual(await retrieved(a, failed.id));
    expect(await replay(b, failed.id)).toEqual(live);
  });

  it("a response that fails after streaming output (its run timeout) keeps that output: the replay from its row is the live stream", async () => {
    const words = Array.from({ length: 80 }, (_, i) => `w${i}`).join(" ");
    // timeout_seconds is ours (the task's run timeout): not in the SDK's types.
    const body = { model: UPSTREAM, input: `[[fixture:tokenDelayMs=40]] ${words}`, background: true, stream: true as const, timeout_seconds: 1 };
    const live = await collect(await a.responses.create(body));
    expectWellFormed(live);
    const failed = finalOf(live).response;
    expect(failed.status).toBe("failed");
    expect(failed.error?.code).toBe("run_timeout");
    // Output was streamed before the timeout, and the failed response shows it.
    expect(live.filter((event) => event.type === "response.output_text.delta").length).toBeGreaterThan(3);
    expect(textOf(live).length).toBeGreaterThan(0);
    expect(failed).toEqual(await retrieved(a, failed.id));
    await deleteRedisStream(taskIdOf(failed.id));
    expect(await replay(b, failed.id)).toEqual(live);
  });

  it("pads deltas with obfuscation only when asked (include_obfuscation=true), the events otherwise the same", async () => {
    const live = await collect(await a.responses.create({ model: FAST, input: "Pad me.", max_output_tokens: 8, background: true, stream: true }));
    expect(live.some((event) => "obfuscation" in event)).toBe(false);
    const padded = await collect(await b.responses.retrieve(responseIdOf(live), { stream: true, include_obfuscation: true }));
    const deltas = padded.filter((event) => event.type === "response.output_text.delta");
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.every((event) => typeof (event as { obfuscation?: unknown }).obfuscation === "string")).toBe(true);
    expect(padded.map(({ obfuscation: _pad, ...event }: ResponseStreamEvent & { obfuscation?: string }) => event)).toEqual(live);
  });

  it("refuses a bad starting_after with OpenAI's 400 naming it", async () => {
    const created = await a.responses.create({ model: FAST, input: "Hello.", max_output_tokens: 4, background: true });
    for (const bad of ["-1", "abc", "1.5"]) {
      const res = await fetch(`${stack.url}/v1/responses/${created.id}?stream=true&starting_after=${bad}`, { headers: { authorization: `Bearer ${stack.adminKey}` } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { type: string; param: string; message: string } };
      expect(body.error.type).toBe("invalid_request_error");
      expect(body.error.param).toBe("starting_after");
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// OpenAI's transcript (fixtures/openai-responses-stream.json) against ours, field by field.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const kindOf = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value);
/** Values that name what a thing is: they must be OpenAI's exactly. */
const MUST_MATCH = new Set(["type", "object", "status", "role", "content_index", "output_index", "logprobs", "annotations"]);
/** Fields of the response object that are ours alone (documented as ours in the OpenAPI document). */
const OURS_ONLY = new Set(["task_id", "queue"]);

/** Where our value differs from OpenAI's in names, kinds, nesting, or a value that must match. `null` matches any kind (OpenAI's nullable fields). */
function shapeDifferences(ours: unknown, theirs: Json, path: string, out: string[]): string[] {
  if (ours === null || theirs === null) return out;
  if (kindOf(ours) !== kindOf(theirs)) {
    out.push(`${path}: ours is ${kindOf(ours)}, OpenAI's ${kindOf(theirs)}`);
    return out;
  }
  if (Array.isArray(theirs)) {
    const mine = ours as unknown[];
    if (theirs.length > 0 && mine.length > 0) shapeDifferences(mine[0], theirs[0]!, `${path}[0]`, out);
    return out;
  }
  if (typeof theirs !== "object") return out;
  const mine = ours as Record<string, unknown>;
  for (const key of Object.keys(theirs)) {
    if (!(key in mine)) out.push(`${path}.${key}: missing in ours`);
    else if (MUST_MATCH.has(key) && kindOf(theirs[key]) !== "object" && JSON.stringify(mine[key]) !== JSON.stringify(theirs[key])) out.push(`${path}.${key}: ours ${JSON.stringify(mine[key])}, OpenAI's ${JSON.stringify(theirs[key])}`);
    else shapeDifferences(mine[key], theirs[key]!, `${path}.${key}`, out);
  }
  for (const key of Object.keys(mine)) if (!(key in theirs) && !OURS_ONLY.has(key)) out.push(`${path}.${key}: not in OpenAI's`);
  return out;
}

/** The event types in order, each run of deltas as one. */
const typeRuns = (events: { type: string }[]) => events.map((event) => event.type).filter((type, index, types) => !(type.endsWith(".delta") && types[index - 1] === type));

describe("our events against OpenAI's transcript", () => {
  const transcript = require("./fixtures/openai-responses-stream.json") as Record<"background_text" | "function_call", (Json & { type: string; sequence_number: number })[]>;

  const compare = (ours: ResponseStreamEvent[], theirs: (typeof transcript)["background_text"]) => {
    expect(typeRuns(ours)).toEqual(typeRuns(theirs));
    const differences: string[] = [];
    for (const expected of theirs) {
      const mine = ours.find((event) => event.type === expected.type);
      shapeDifferences(JSON.parse(JSON.stringify(mine)), expected, expected.type, differences);
    }
    return differences;
  };

  it("a background text response: the same events, fields, kinds and nesting", async () => {
    const ours = await collect(await a.responses.create({ model: FAST, input: "Hello!", max_output_tokens: 200, background: true, stream: true }));
    expect(finalOf(ours).type).toBe("response.completed");
    expect(compare(ours, transcript.background_text)).toEqual([]);
  });

  it("a function call: the same events, fields, kinds and nesting", async () => {
    const ours = await collect(
      await a.responses.create({
        model: UPSTREAM,
        input: "What is the weather in Paris?",
        tools: [{ type: "function", name: "get_weather", description: "The weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: false }],
        background: true,
        stream: true,
      }),
    );
    expect(compare(ours, transcript.function_call)).toEqual([]);
  });
});
