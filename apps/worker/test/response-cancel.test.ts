// Cancel is final and stops the spend (issue 15), for responses made with the official `openai` package:
// a cancel while running closes the upstream request, the row never turns COMPLETED afterwards (raced
// against the upstream's last token, and with the worker's completion arriving after the cancel), and the
// usage up to the cancel stays on the row and counts against the key's daily tokens.
import type { TaskRecord } from "@llmq/db";
import { type OpenAIFixture, type SseEvent, eventually, json, readSse, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";

// Answered by the OpenAI fixture over real HTTP (chat completions: it reports usage only at the end).
const UPSTREAM = "fixture-model";
const UPSTREAM_QUEUE = "llm_fixture_model_queue";
// Served by no worker: its tasks wait until a test starts them by hand.
const IDLE = "idle-model";

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: {
        upstream: { type: "openai", base_url: fixture.url, timeout_ms: 10_000 },
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
      },
      models: [
        { id: UPSTREAM, provider: "upstream", concurrency: 8 },
        { id: IDLE, provider: "fast", concurrency: 2 },
      ],
    },
    env: { WORKER_MODELS: UPSTREAM },
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

async function newKey(): Promise<{ id: string; key: string; client: OpenAI }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "responses-cancel", limits: { tokens_per_day: 1_000_000 } } });
  expect(res.status).toBe(201);
  const { id, key } = (await json(res)).data.data;
  return { id, key, client: new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 }) };
}

const taskIdOf = (responseId: string) => responseId.slice("resp_".length);
const row = async (taskId: string) => (await stack.api.deps.tasks.findById(taskId))!;

/** What the key's daily counter holds, as the token quota reads it. */
async function keyTokens(keyId: string, ownerId: string): Promise<number> {
  return (await stack.api.deps.tokenUsage.usedToday({ userId: ownerId, keyId })).key ?? 0;
}

/** Resolves once the task has left its run queue (its attempt has ended, whichever way, and was settled). */
function attemptEnded(taskId: string): Promise<true> {
  return eventually(async () => ((await stack.api.deps.queues.jobState(UPSTREAM_QUEUE, taskId)) === null ? true : undefined), {
    what: `the attempt of ${taskId} to end`,
  });
}

async function finalEvents(taskId: string) {
  return (await stack.api.deps.log.readAfter(taskId, "0")).map((entry) => entry.event).filter((event) => event.type === "final");
}

/** The `output_kept` events of a task: one once the worker recorded a cancelled attempt's output. */
async function keptEvents(taskId: string) {
  return (await stack.api.deps.log.readAfter(taskId, "0")).map((entry) => entry.event).filter((event) => event.type === "output_kept");
}

function cancel(taskId: string, key: string): Promise<Response> {
  return stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST", key });
}

describe("cancelling a running response", () => {
  it("closes the upstream request, stays cancelled, keeps the usage so far (prompt estimated) and counts it against the key", async () => {
    const { id: keyId, key, client } = await newKey();
    const words = Array.from({ length: 40 }, (_, index) => `word${index + 1}`).join(" ");
    const abortedBefore = fixture.abortedRequests();
    const created = await client.responses.create({ model: UPSTREAM, input: `${words} [[fixture:tokenDelayMs=100]]`, background: true });
    expect(created.status).toBe("queued");
    const taskId = taskIdOf(created.id);

    // A few tokens out, then the cancel.
    const tokens: SseEvent[] = [];
    await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`, { key }), {
      until: (event) => event.event === "token" && tokens.push(event) >= 3,
    });
    const cancelled = await cancel(taskId, key);
    expect(cancelled.status).toBe(200);
    expect((await json(cancelled)).data.data.status).toBe("CANCELLED");

    // The upstream saw its connection closed, and the attempt ended without a retry.
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1 ? true : undefined), { what: "the upstream request to be aborted" });
    await attemptEnded(taskId);
    const task = await eventually(async () => {
      const current = await row(taskId);
      return current.completionTokens > 0 ? current : undefined;
    }, { what: "the cancelled attempt's output to be kept" });
    expect(task.status).toBe("CANCELLED");
    expect(task.attempts).toBe(1);
    expect(task.completionTokens).toBeGreaterThanOrEqual(3);
    expect(task.completionTokens).toBeLessThan(41);
    // The fixture reports usage only in its last frame, which never came: the prompt is estimated
    // (the quota code's estimate: a quarter of the characters plus 4 per message).
    const content = `${words} [[fixture:tokenDelayMs=100]]`;
    expect(task.promptTokens).toBe(Math.ceil(content.length / 4) + 4);

    // The key's daily tokens count it, once.
    await eventually(async () => ((await keyTokens(keyId, task.ownerId)) === task.promptTokens! + task.completionTokens ? true : undefined), {
      what: "the key's token counter to count the cancelled response",
    });

    // It stays cancelled, through the SDK too, with its usage.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved.status).toBe("cancelled");
    expect(retrieved.usage).toMatchObject({ input_tokens: task.promptTokens, output_tokens: task.completionTokens });
    expect(await finalEvents(taskId)).toEqual([{ type: "final", status: "CANCELLED", outputPending: true }]);
    expect(await keptEvents(taskId)).toEqual([{ type: "output_kept", attempt: 1 }]);
    expect((await row(taskId)).status).toBe("CANCELLED");
    expect(await keyTokens(keyId, task.ownerId)).toBe(task.promptTokens! + task.completionTokens);
  });

  it("never turns COMPLETED when the cancel races the upstream's last token, and the key is charged exactly what the rows show", async () => {
    const { id: keyId, key, client } = await newKey();
    const RACES = 36;
    const outcomes: { cancelAnswered: string; final: TaskRecord }[] = [];
    for (let race = 0; race < RACES; race++) {
      // The reply is six tokens ("Echo: race N one two three"), 5 ms apart. The cancel leaves 0-7 ms after
      // the fifth reaches a subscriber, so it meets the sixth, the end of the stream, or the worker's
      // completion; the first races cancel earlier, mid-stream.
      const created = await client.responses.create({ model: UPSTREAM, input: `race ${race} one two three [[fixture:tokenDelayMs=5]]`, background: true });
      const taskId = taskIdOf(created.id);
      const seen = race < 4 ? 2 + race : 5;
      let tokens = 0;
      await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`, { key }), {
        until: (event) => (event.event === "token" && ++tokens >= seen) || event.event === "result",
      });
      if (race >= 4) await new Promise((resolve) => setTimeout(resolve, race % 8));
      const res = await cancel(taskId, key);
      expect(res.status).toBe(200);
      const cancelAnswered: string = (await json(res)).data.data.status;
      await attemptEnded(taskId);
      // The job ended after the worker wrote everything: its completion, or the output kept after a cancel.
      outcomes.push({ cancelAnswered, final: await row(taskId) });
    }

    for (const { cancelAnswered, final } of outcomes) {
      // What the cancel answered is what the task is, for good: a cancel that won is never overtaken by
      // the completion, and one that lost found the task already COMPLETED.
      expect([cancelAnswered, final.status]).toEqual(cancelAnswered === "CANCELLED" ? ["CANCELLED", "CANCELLED"] : ["COMPLETED", "COMPLETED"]);
      // A cancel that won came while the attempt ran: its final event says the output is still to be kept, and it was.
      expect(await finalEvents(final.id)).toEqual([{ type: "final", status: final.status, ...(final.status === "CANCELLED" && final.attempts === 1 ? { outputPending: true } : {}) }]);
      expect(await keptEvents(final.id)).toEqual(final.status === "CANCELLED" && final.attempts === 1 ? [{ type: "output_kept", attempt: 1 }] : []);
      expect(final.attempts).toBeLessThanOrEqual(1);
    }
    const counts = {
      cancelled: outcomes.filter((o) => o.final.status === "CANCELLED").length,
      // Cancelled with the whole reply on the row: the upstream had sent its last token, and the cancel
      // still beat the worker's completion (which then changed nothing).
      cancelledAfterLastToken: outcomes.filter((o) => o.final.status === "CANCELLED" && o.final.response === `Echo: race ${outcomes.indexOf(o)} one two three`).length,
      completed: outcomes.filter((o) => o.final.status === "COMPLETED").length,
    };
    console.log(`cancel vs last token, ${RACES} races: ${JSON.stringify(counts)}`);

    // Every token the rows show is charged to the key, once: completed ones and cancelled ones alike.
    const charged = outcomes.reduce((sum, { final }) => sum + (final.promptTokens ?? 0) + final.completionTokens, 0);
    const ownerId = outcomes[0]!.final.ownerId;
    await eventually(async () => ((await keyTokens(keyId, ownerId)) === charged ? true : undefined), {
      what: `the key's counter to equal the rows' usage (${charged})`,
    });
    // Started cancelled ones kept their prompt (reported or estimated).
    for (const { final } of outcomes) if (final.status === "CANCELLED" && final.attempts === 1) expect(final.promptTokens).toBeGreaterThan(0);
  });

  it("a worker's completion that arrives after the cancel changes nothing; the attempt's output is kept and charged", async () => {
    const { id: keyId, key, client } = await newKey();
    const created = await client.responses.create({ model: IDLE, input: "Nobody serves this model; the test runs the attempt.", background: true });
    const taskId = taskIdOf(created.id);
    const { tasks: engine } = stack.api.deps.engine;

    const start = await engine.start(taskId);
    if (start.kind !== "started") throw new Error(`expected the attempt to start, got ${start.kind}`);
    const { ref, attempt } = start.attempt;
    const cancelled = await cancel(taskId, key);
    expect((await json(cancelled)).data.data.status).toBe("CANCELLED");

    const outcome = {
      response: "a late answer",
      percent: 100,
      completionTokens: 3,
      firstTokenAt: new Date(),
      choices: [{ index: 0, text: "a late answer", finishReason: "stop" as const, toolCalls: [] }],
      promptTokens: 12,
    };
    // The completion comes too late: refused, as the worker sees it.
    expect(await engine.complete(ref, attempt, { ...outcome, finishReason: "stop" })).toBe(false);
    // What the worker then does: keep the attempt's output on the cancelled row.
    expect(await engine.keepCancelledOutput(ref, attempt, outcome)).toBe(true);

    const task = await row(taskId);
    expect(task).toMatchObject({ status: "CANCELLED", response: "a late answer", completionTokens: 3, promptTokens: 12 });
    expect(await finalEvents(taskId)).toEqual([{ type: "final", status: "CANCELLED", outputPending: true }]);
    expect(await keptEvents(taskId)).toEqual([{ type: "output_kept", attempt }]);
    expect((await client.responses.retrieve(created.id)).status).toBe("cancelled");
    await eventually(async () => ((await keyTokens(keyId, task.ownerId)) === 15 ? true : undefined), { what: "the key to be charged the kept usage" });
  });
});
