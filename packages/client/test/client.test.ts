import net from "node:net";
import { json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import {
  LlmqApiError,
  LlmqAuthError,
  LlmqClient,
  LlmqConnectionError,
  LlmqNotFoundError,
  LlmqStreamEndedError,
  type NativeBatch,
  type TaskProgressEvent,
} from "@llmq/client";

const FAST = "gemma-7b";
/** 40 tokens a second: a 60-token answer streams for about 1.5 s. */
const SLOW = "llama-3.1-8b-instruct";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
});
afterAll(async () => {
  await stack.close();
});

function ask(content: string, model = FAST, maxTokens = 16) {
  return { messages: [{ role: "user" as const, content }], configs: { model, max_tokens: maxTokens } };
}

/** A client with the key of a new user (tenant), so each test sees only its own tasks and batches. */
async function tenantClient(name: string, options: { baseUrl?: string } = {}): Promise<{ client: LlmqClient; key: string; keyId: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { client: new LlmqClient({ baseUrl: options.baseUrl ?? stack.url, apiKey: data.key }), key: data.key, keyId: data.id };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/**
 * A TCP proxy in front of the API that cuts the first connection carrying task events once `tokens`
 * token events have passed through it: a real dropped connection, mid-stream.
 */
async function droppingProxy(tokens: number): Promise<{ url: string; drops: () => number; close: () => Promise<void> }> {
  const target = new URL(stack.url);
  let drops = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let seen = 0;
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => {
      seen += (chunk.toString("latin1").match(/event: token/g) ?? []).length;
      if (drops === 0 && seen >= tokens) {
        drops += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    drops: () => drops,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The text a stream's token events spell, and checks that their ids only ever grow (no repeat after a resume). */
function textOf(events: TaskProgressEvent[]): string {
  const ids = events.map((e) => e.id).filter((id): id is string => id !== undefined);
  expect(new Set(ids).size).toBe(ids.length);
  return events.map((e) => (e.event === "token" ? e.data.delta : "")).join("");
}

describe("@llmq/client against the real stack", () => {
  it("submits and waits (sync), submits async then waits by events and by polling, and reads the same task", async () => {
    const { client } = await tenantClient("client-submit");
    const done = await client.submit(ask("Hello there"), { wait: 30 });
    expect(done.data.status).toBe("COMPLETED");
    expect(done.data.response).toBeTruthy();
    expect(done.configs.model).toBe(FAST);

    const queued = await client.submitAsync(ask("Hello again", SLOW, 12));
    expect(["PENDING", "RUNNING"]).toContain(queued.data.status);
    const waited = await client.wait(queued.data.task_id);
    expect(waited.data.status).toBe("COMPLETED");
    const polled = await client.poll(queued.data.task_id, { intervalMs: 100 });
    expect(polled).toEqual(waited);
    expect(await client.task(queued.data.task_id)).toEqual(waited);
  });

  it("streams a submission as an async iterator: status, tokens, then the result whose text the tokens spell", async () => {
    const { client } = await tenantClient("client-stream");
    const events = await collect(client.stream(ask("Tell me a story", SLOW, 20)));
    expect(events[0]?.event).toBe("status");
    const last = events[events.length - 1]!;
    expect(last.event).toBe("result");
    if (last.event !== "result") throw new Error("unreachable");
    expect(last.data.data.data.status).toBe("COMPLETED");
    expect(events.filter((e) => e.event === "token").length).toBeGreaterThan(1);
    expect(textOf(events)).toBe(last.data.data.data.response);
  });

  it("resumes a dropped event stream with Last-Event-ID: no token lost, none repeated", async () => {
    const proxy = await droppingProxy(3);
    try {
      const { client } = await tenantClient("client-resume", { baseUrl: proxy.url });
      // Submitted through the proxy too, then followed through it; the first events connection is cut after 3 tokens.
      const task = await client.submitAsync(ask("A long answer please", SLOW, 60));
      const events = await collect(client.events(task.data.task_id));
      expect(proxy.drops()).toBe(1);
      const last = events[events.length - 1]!;
      if (last.event !== "result") throw new Error(`the stream ended with ${last.event}`);
      expect(textOf(events)).toBe(last.data.data.data.response);
      expect(last.data.data.data.usage.completion_tokens).toBe(events.filter((e) => e.event === "token").reduce((n, e) => (e.event === "token" ? Math.max(n, e.data.tokens) : n), 0));

      // The same through a streamed submission: cut after 3 tokens, then followed by its events.
      const before = proxy.drops();
      const again = await droppingProxy(3);
      try {
        const streaming = new LlmqClient({ baseUrl: again.url, apiKey: (await tenantClient("client-resume-2")).key });
        const streamed = await collect(streaming.stream(ask("Another long answer", SLOW, 60)));
        expect(again.drops()).toBe(1);
        const result = streamed[streamed.length - 1]!;
        if (result.event !== "result") throw new Error(`the stream ended with ${result.event}`);
        expect(textOf(streamed)).toBe(result.data.data.data.response);
      } finally {
        await again.close();
      }
      expect(proxy.drops()).toBe(before);
    } finally {
      await proxy.close();
    }
  });

  it("cancels a running task", async () => {
    const { client } = await tenantClient("client-cancel");
    const task = await client.submitAsync(ask("Slow and long", SLOW, 400));
    const cancelled = await client.cancel(task.data.task_id);
    expect(cancelled.data.status).toBe("CANCELLED");
    expect((await client.wait(task.data.task_id)).data.status).toBe("CANCELLED");
  });

  it("pages through history as an async iterator, with filters", async () => {
    const { client } = await tenantClient("client-history");
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await client.submit(ask(`history ${i}`), { wait: 30 })).data.task_id);
    const slow = await client.submitAsync(ask("history slow", SLOW, 4));
    await client.wait(slow.data.task_id);

    const all = await collect(client.historyAll({ limit: 2 }));
    expect(all.map((t) => t.task_id)).toEqual([slow.data.task_id, ...ids.reverse()]);
    const fast = await collect(client.historyAll({ limit: 2, model: FAST, status: "COMPLETED" }));
    expect(fast.map((t) => t.task_id)).toEqual(ids);
    const page = await client.history({ limit: 1 });
    expect(page.tasks).toHaveLength(1);
    expect(page.has_more).toBe(true);
  });

  it("creates a native batch, follows its progress to the end, and reads its results in order; lists batches with their dialect", async () => {
    const { client } = await tenantClient("client-batch");
    const created = await client.createBatch({ requests: ["one", "two", "three"].map((word) => ({ custom_id: word, ...ask(`say ${word}`) })) });
    expect(created.task_ids).toHaveLength(3);
    const states: NativeBatch[] = await collect(client.batchProgress(created.batch_id, { intervalMs: 100 }));
    const final = states[states.length - 1]!;
    expect(final).toMatchObject({ batch_id: created.batch_id, status: "completed", dialect: "flexstack", percent: 100, counts: { COMPLETED: 3 } });
    expect(states.slice(0, -1).every((s) => s.status !== "completed")).toBe(true);
    expect(await client.waitForBatch(created.batch_id)).toMatchObject({ status: "completed" });

    const lines = await collect(client.batchResults(created.batch_id));
    expect(lines.map((l) => [l.custom_id, l.task_id, l.status])).toEqual(["one", "two", "three"].map((word, i) => [word, created.task_ids[i], "COMPLETED"]));
    expect(lines.every((l) => typeof l.response === "string" && l.error === null)).toBe(true);

    const second = await client.createBatch({ requests: [ask("later")] });
    const listed = await collect(client.batchesAll({ limit: 1 }));
    expect(listed.map((b) => [b.batch_id, b.dialect])).toEqual([
      [second.batch_id, "flexstack"],
      [created.batch_id, "flexstack"],
    ]);
    const cancelled = await client.cancelBatch(second.batch_id).catch((error: unknown) => error);
    // Already finished (409 batch_not_cancellable) or cancelled: either way a typed answer.
    if (cancelled instanceof LlmqApiError) expect([cancelled.status, cancelled.code]).toEqual([409, "batch_not_cancellable"]);
    else expect(["cancelling", "cancelled", "completed"]).toContain((cancelled as NativeBatch).status);
  });

  it("throws typed errors carrying the envelope's status, code and param", async () => {
    const { client } = await tenantClient("client-errors");
    const missing = await client.task("0123456789abcdef0123456789abcdef").catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(LlmqNotFoundError);
    expect(missing).toMatchObject({ status: 404, code: "task_not_found" });

    const invalid = await client.submit({ ...ask("x"), configs: { model: FAST, temperature: 9 } }).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(LlmqApiError);
    expect(invalid).toMatchObject({ status: 400, param: "configs.temperature" });

    let unauthorized = 0;
    const stranger = new LlmqClient({ baseUrl: stack.url, apiKey: "llmq_not-a-key-of-this-server", onUnauthorized: () => (unauthorized += 1) });
    const refused = await stranger.history().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LlmqAuthError);
    expect(refused).toMatchObject({ status: 401 });
    expect(unauthorized).toBe(1);

    const nowhere = new LlmqClient({ baseUrl: "http://127.0.0.1:9", apiKey: "x" });
    await expect(nowhere.history()).rejects.toBeInstanceOf(LlmqConnectionError);
  });

  it("throws LlmqStreamEndedError when the server ends a stream because its key was revoked", async () => {
    const { client, keyId } = await tenantClient("client-revoked");
    const task = await client.submitAsync(ask("Slow and long", SLOW, 400));
    const events = client.events(task.data.task_id);
    const first = await events.next();
    expect(first.value).toMatchObject({ event: "status" });
    expect((await stack.request(`/v1/admin/keys/${keyId}`, { method: "DELETE" })).status).toBe(200);
    const ended = await collect(events).catch((error: unknown) => error);
    expect(ended).toBeInstanceOf(LlmqStreamEndedError);
    expect(ended).toMatchObject({ taskId: task.data.task_id });
    // Its owner's key is gone: the admin stops the task, so nothing runs on when the stack closes.
    expect((await stack.request(`/v1/ai/tasks/${task.data.task_id}/cancel`, { method: "POST" })).status).toBe(200);
  });
});
