// A background response cancelled while someone watches its stream: the live stream ends as its later
// replay does (the same events, numbers, text and usage), though the worker records what the cancelled
// attempt generated only after the cancel; the cancel's answer and a retrieve show the same response.
// Official `openai` package, real stack (a slow simulated model), two API processes.
import { type ServiceProcess, eventually, spawnService } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { sdkClient } from "./openai-sdk-support";

const SLOW = "llama-3.1-8b-instruct";
/** Fast enough that tokens are still arriving while the cancel goes through: the worker keeps more than the stream had at the cancel. */
const FAST = "gemma-7b";
/** No worker serves it: the test runs its attempt by hand, and its "worker" is gone when the cancel comes. */
const IDLE = "idle-model";

let stack: TestStack;
let other: ServiceProcess;
/** The watcher, through this test's API process (A); the canceller and the replayer through a process of its own (B). */
let a: OpenAI;
let b: OpenAI;

beforeAll(async () => {
  stack = await startTestStack({
    models: {
      providers: { slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 60 }, fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 800 } },
      models: [
        { id: SLOW, provider: "slow", concurrency: 4 },
        { id: FAST, provider: "fast", concurrency: 4 },
        { id: IDLE, provider: "slow", concurrency: 2 },
      ],
    },
    env: { WORKER_MODELS: `${SLOW},${FAST}` },
  });
  other = await spawnService("apps/api/src/main.ts", { ...stack.env, PORT: "0", LOG_LEVEL: "info", API_PROCESSES: "1" }, /"msg":"api listening"/);
  const bUrl = /"url":"(http:\/\/[^"]+)"/.exec(other.output())![1]!;
  a = sdkClient(stack);
  b = new OpenAI({ baseURL: `${bUrl}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await other?.stop();
  await stack?.close();
});

type Final = Extract<ResponseStreamEvent, { type: "response.completed" | "response.incomplete" | "response.failed" }>;
const finalOf = (events: ResponseStreamEvent[]) => events[events.length - 1] as Final;
const textOf = (events: ResponseStreamEvent[]) =>
  events
    .filter((event): event is Extract<ResponseStreamEvent, { type: "response.output_text.delta" }> => event.type === "response.output_text.delta")
    .map((event) => event.delta)
    .join("");
/** A response as the API answered it, less the SDK's own `output_text` convenience (not on the wire). */
const wire = (response: OpenAI.Responses.Response) => {
  const { output_text: _convenience, ...rest } = response;
  return JSON.parse(JSON.stringify(rest)) as unknown;
};

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const events: ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Whether the worker has recorded the cancelled attempt's output on the row (its update follows the cancel's). */
async function outputKept(taskId: string): Promise<boolean> {
  const rows = await stack.api.deps.db.$queryRaw<{ kept: boolean }[]>`SELECT updated_at > completed_at AS kept FROM tasks WHERE task_id = ${taskId}`;
  return rows[0]?.kept === true;
}

/**
 * Streams a background response live through A, cancels it through B after `deltas` text deltas, and
 * collects the live events to their end, with the cancel's answer.
 */
async function cancelWhileWatched(model: string, deltas: number): Promise<{ id: string; live: ResponseStreamEvent[]; cancelled: OpenAI.Responses.Response }> {
  // Asked for 1,000 words (the simulated model's natural reply to a statement is 60-160): the fast model
  // then takes 1.25 s to its end, so the cancel always lands while tokens still arrive, however slowly
  // process B answers on a loaded machine (a 100-word reply ended in ~0.13 s, and a clean-clone run once
  // saw it complete before the cancel).
  const stream = await a.responses.create({ model, input: "Write 1000 words: a long story about rivers, please.", max_output_tokens: 1000, stream: true, background: true });
  const live: ResponseStreamEvent[] = [];
  let seen = 0;
  let cancel: Promise<OpenAI.Responses.Response> | null = null;
  for await (const event of stream) {
    live.push(event);
    if (event.type === "response.output_text.delta" && ++seen === deltas) cancel = b.responses.cancel((live[0] as Extract<ResponseStreamEvent, { type: "response.created" }>).response.id);
  }
  expect(cancel).not.toBeNull();
  return { id: finalOf(live).response.id, live, cancelled: await cancel! };
}

describe("a response cancelled while its stream is watched", () => {
  it("ends live exactly as its replay from the row does (after the worker kept its output, without its Redis stream), round after round", async () => {
    const differences: string[] = [];
    const rounds = [2, 4, 6, 8, 10].flatMap((deltas) => [[SLOW, deltas] as const, [FAST, deltas * 3] as const]);
    for (const [model, deltas] of rounds) {
      const { id, live, cancelled } = await cancelWhileWatched(model, deltas);
      const taskId = id.slice("resp_".length);
      const final = finalOf(live);
      expect(final.type).toBe("response.incomplete");
      expect(final.response.status).toBe("cancelled");
      expect(live.map((event) => event.sequence_number)).toEqual(live.map((_, index) => index));

      await eventually(async () => ((await outputKept(taskId)) ? true : undefined), { what: "the worker kept the cancelled attempt's output" });
      const { redis, keys } = stack.api.deps;
      await redis.del(keys.taskEvents(taskId));
      const replayed = await collect(await b.responses.retrieve(id, { stream: true }));
      const retrieved = wire(await b.responses.retrieve(id));

      const liveEnd = final.response;
      const mismatch = [
        JSON.stringify(replayed) !== JSON.stringify(live) ? "replay" : "",
        JSON.stringify(liveEnd) !== JSON.stringify(retrieved) ? "retrieve" : "",
        JSON.stringify(wire(cancelled)) !== JSON.stringify(retrieved) ? "cancel answer" : "",
      ].filter(Boolean);
      if (mismatch.length > 0) {
        differences.push(
          `${model}, cancel after ${deltas} deltas (${mismatch.join(", ")} differ): live ${live.length} events, text ${textOf(live).length} chars, output_tokens ${liveEnd.usage?.output_tokens}; ` +
            `replay ${replayed.length} events, text ${textOf(replayed).length} chars, output_tokens ${finalOf(replayed).response.usage?.output_tokens}; ` +
            `cancel answer output_tokens ${cancelled.usage?.output_tokens}`,
        );
        continue;
      }
      expect(replayed).toEqual(live);
      // The live end, the cancel's answer and a retrieve are the same response, with the usage up to the cancel.
      expect(liveEnd).toEqual(retrieved);
      expect(wire(cancelled)).toEqual(retrieved);
      expect(liveEnd.usage!.output_tokens).toBeGreaterThanOrEqual(deltas);
      const message = liveEnd.output[0] as { content: { text: string }[] };
      expect(textOf(live)).toBe(message.content[0]!.text);
    }
    expect(differences).toEqual([]);
  }, 120_000);

  it("whose worker is gone: the live stream still ends, bounded, with the row's last checkpoint, which retrieve, the cancel's answer and a replay show", async () => {
    const stream = await a.responses.create({ model: IDLE, input: "Nobody serves this model; the test runs the attempt.", stream: true, background: true });
    const live: ResponseStreamEvent[] = [];
    const watched = (async () => {
      for await (const event of stream) live.push(event);
    })();
    await eventually(async () => (live.length >= 2 ? true : undefined), { what: "the stream to open" });
    const id = (live[0] as Extract<ResponseStreamEvent, { type: "response.created" }>).response.id;
    const taskId = id.slice("resp_".length);

    // An attempt that streams two pieces, checkpoints the first, and whose worker then dies.
    const { tasks: engine } = stack.api.deps.engine;
    const start = await engine.start(taskId);
    if (start.kind !== "started") throw new Error(`expected the attempt to start, got ${start.kind}`);
    const { ref, attempt } = start.attempt;
    await stack.api.deps.log.append(taskId, [{ type: "token", attempt, choice: 0, delta: "Hello", tokens: 1, percent: 1 }]);
    expect(
      await engine.checkpoint(ref, attempt, { response: "Hello", percent: 1, completionTokens: 1, firstTokenAt: new Date(), choices: [{ index: 0, text: "Hello", finishReason: null, toolCalls: [], pieces: [5] }] }),
    ).toBe(true);
    await stack.api.deps.log.append(taskId, [{ type: "token", attempt, choice: 0, delta: " world", tokens: 2, percent: 2 }]);
    await eventually(async () => (textOf(live) === "Hello world" ? true : undefined), { what: "both pieces streamed live" });

    const cancelled = await b.responses.cancel(id);
    await watched; // it ends: no output_kept comes, the bound does
    const final = finalOf(live);
    expect(final.type).toBe("response.incomplete");
    expect(final.response.status).toBe("cancelled");
    const retrieved = wire(await b.responses.retrieve(id));
    expect(final.response).toEqual(retrieved);
    expect(wire(cancelled)).toEqual(retrieved);
    expect(final.response.usage!.output_tokens).toBe(1);

    // The rule (docs/openai-api.md): its end is the row's, the deltas sent after the last checkpoint are not.
    const { redis, keys } = stack.api.deps;
    await redis.del(keys.taskEvents(taskId));
    const replayed = await collect(await b.responses.retrieve(id, { stream: true }));
    expect(textOf(replayed)).toBe("Hello");
    expect(finalOf(replayed).response).toEqual(final.response);
    const withoutNumbers = (events: ResponseStreamEvent[]) => events.map(({ sequence_number: _n, ...event }) => event);
    const lastPiece = live.findIndex((event) => event.type === "response.output_text.delta" && event.delta === " world");
    expect(withoutNumbers(replayed)).toEqual(withoutNumbers([...live.slice(0, lastPiece), ...live.slice(lastPiece + 1)]));
  }, 60_000);
});
