// A subscriber that stops reading must not make the API buffer a task's whole stream: past 1 MiB unsent
// the relay stops reading the task's events until the socket drains, and a reader that takes nothing for
// SSE_STALLED_READER_MS is let go; it resumes with Last-Event-ID, missing nothing. A reader that reads
// gets any backlog, however large, on one connection, at its own pace.
import http from "node:http";
import { type OpenAIFixture, type SseEvent, eventually, json, readSse, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { createParser } from "eventsource-parser";

// 200 tokens of 64 kB: about 13 MB of events, far more than the limit plus what the kernel's socket
// buffers hold for a reader that reads nothing (about 4 MB here).
const TOKENS = 200;
const TOKEN_BYTES = 64_000;
const REPLY = Array.from({ length: TOKENS }, (_, i) => `w${i}${"x".repeat(TOKEN_BYTES)}`).join(" ");
/** How long the API waits for a reader that takes nothing (the default is 30 s). */
const STALLED_READER_MS = 1_500;

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  // Tokens trickle (10 ms apart) after a pause that leaves time to subscribe before the first one.
  fixture = await startOpenAIFixture({ behaviour: { reply: REPLY, firstTokenDelayMs: 1_500, tokenDelayMs: 10 } });
  stack = await startTestStack({
    models: {
      providers: { upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 30_000 } },
      models: [{ id: "big-model", provider: "upstream", upstream_model: "fixture-model", concurrency: 1 }],
    },
    // No progress writes of the growing 13 MB text: the test is about the stream, and they would only load the machine.
    env: { CHECKPOINT_INTERVAL_MS: "600000", SSE_STALLED_READER_MS: String(STALLED_READER_MS) },
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

/** GET the task's events over a plain socket, reading nothing until `resume()`; then everything until the server ends it. */
function openPausedStream(taskId: string) {
  const url = new URL(`${stack.url}/v1/ai/tasks/${taskId}/events`);
  const events: SseEvent[] = [];
  let bytes = 0;
  let ended = false;
  const parser = createParser({ onEvent: (event) => events.push({ id: event.id, event: event.event, data: event.data }) });
  return new Promise<{ resume: () => Promise<void>; events: SseEvent[]; bytes: () => number; ended: () => boolean }>((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${stack.adminKey}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`events answered ${res.statusCode}`));
      res.pause();
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        bytes += Buffer.byteLength(chunk);
        parser.feed(chunk);
      });
      const finished = new Promise<void>((done) => {
        res.on("end", () => {
          ended = true;
          done();
        });
        res.on("error", () => done());
      });
      resolve({
        resume: async () => {
          res.resume();
          await finished;
        },
        events,
        bytes: () => bytes,
        ended: () => ended,
      });
    });
    req.on("error", reject);
  });
}

describe("a slow SSE consumer", () => {
  let taskId: string;

  it("holds no more than its pause mark while it reads nothing, is let go after SSE_STALLED_READER_MS, and resumes with Last-Event-ID without a gap or a duplicate", async () => {
    taskId = await stack.submitAsync({ messages: [{ role: "user", content: "Write a lot." }], configs: { model: "big-model", max_tokens: TOKENS } });
    const slow = await openPausedStream(taskId);
    await eventually(async () => (stack.api.deps.hub.listenerCount() === 1 ? true : undefined), { what: "the subscriber to be listening" });

    // The relay stops reading the task's events for it (the hub lets go) without the reader reading a byte,
    // and, as it still reads nothing, ends its stream.
    await eventually(async () => (stack.api.deps.hub.listenerCount() === 0 ? true : undefined), { timeoutMs: 90_000, intervalMs: 50, what: "the relay to stop reading for the slow reader" });
    await eventually(async () => (stack.api.deps.streamGuard.size() === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50, what: "the slow reader's stream to end" });

    // Reading now gets what was already sent, then the end: no result, far less than the whole stream.
    await slow.resume();
    expect(slow.ended()).toBe(true);
    expect(slow.events.some((event) => event.event === "result")).toBe(false);
    const tokensBefore = slow.events.filter((event) => event.event === "token").length;
    expect(tokensBefore).toBeGreaterThan(0);
    expect(tokensBefore).toBeLessThan(TOKENS);
    expect(slow.bytes()).toBeLessThan(TOKENS * TOKEN_BYTES);

    // One reconnection after the last event it got delivers the rest, then the result: the rest is larger
    // than the pause mark and the socket's buffers, and goes at the reader's pace instead of being cut.
    const lastId = slow.events[slow.events.length - 1]!.id!;
    const rest = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`, { headers: { "Last-Event-ID": lastId } }));
    const all = [...slow.events, ...rest];
    const result = all[all.length - 1]!;
    expect(result.event).toBe("result");
    const ids = all.slice(0, -1).map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    const tokens = all.filter((event) => event.event === "token").map((event) => JSON.parse(event.data).delta as string);
    expect(tokens).toHaveLength(TOKENS);
    const envelope = JSON.parse(result.data);
    expect(envelope.data.data).toMatchObject({ status: "COMPLETED", percent: 100 });
    expect(tokens.join("")).toBe(envelope.data.data.response);
    expect(envelope.data.data.response).toBe(`${REPLY}`);
    expect((await json(await stack.request(`/v1/ai/tasks/${taskId}`))).data.data.status).toBe("COMPLETED");
  }, 150_000);

  it("replays an ended task's whole 13 MB stream to a new reader on one connection, every event once, then the result", async () => {
    // Written at once, this replay passed the 4 MiB cut after about a third of it.
    const events = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`));
    expect(events.at(-1)!.event).toBe("result");
    const tokens = events.filter((event) => event.event === "token");
    expect(tokens).toHaveLength(TOKENS);
    expect(new Set(tokens.map((event) => event.id)).size).toBe(TOKENS);
    expect(tokens.map((event) => JSON.parse(event.data).delta as string).join("")).toBe(REPLY);
  }, 60_000);
});
