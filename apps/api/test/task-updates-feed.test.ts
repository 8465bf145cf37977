import { type WebhookReceiver, eventually, json, startWebhookReceiver } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { signedInAccount } from "./account-support";

// 40 tokens a second: a task of this model runs for a second or more.
const SLOW_MODEL = "llama-3.1-8b-instruct";

interface FeedRow {
  task_id: string;
  owner_id: string;
  status: string;
  percent: number;
  [field: string]: unknown;
}

/** An open live task list: events arrive in `rows` as they come. */
interface Feed {
  rows: FeedRow[];
  eventNames: Set<string>;
  close(): void;
}

let stack: TestStack;
let receiver: WebhookReceiver;
const feeds: Feed[] = [];
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  // No worker at first, so a new task is seen PENDING before a worker takes it.
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS, worker: false, env: { WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32", WEBHOOK_RETRY_DELAYS_MS: "100" } });
});
afterAll(async () => {
  for (const feed of feeds) feed.close();
  await stack.close();
  await receiver?.close();
});

/** Opens `GET /v1/ai/tasks/updates` as `bearer` and collects its events in the background. */
async function openFeed(bearer: string, query = ""): Promise<Feed> {
  const abort = new AbortController();
  const res = await fetch(`${stack.url}/v1/ai/tasks/updates${query}`, { headers: { authorization: `Bearer ${bearer}` }, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const feed: Feed = { rows: [], eventNames: new Set(), close: () => abort.abort() };
  feeds.push(feed);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      feed.eventNames.add(value.event ?? "message");
      feed.rows.push(JSON.parse(value.data) as FeedRow);
    }
  })().catch(() => undefined);
  return feed;
}

const request = (content: string, model = SLOW_MODEL, maxTokens = 200) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } });
const statusesOf = (feed: Feed, taskId: string) => feed.rows.filter((row) => row.task_id === taskId).map((row) => row.status);

async function historyRowOf(taskId: string, bearer: string) {
  const page = await json(await stack.request("/v1/ai/tasks?limit=200", { key: bearer }));
  return (page.data.data.tasks as FeedRow[]).find((row) => row.task_id === taskId);
}

describe("GET /v1/ai/tasks/updates", () => {
  it("streams a task created -> RUNNING -> COMPLETED to its owner and the admin, never to another user", async () => {
    const ann = await signedInAccount(stack, { name: "Ann" });
    const bob = await signedInAccount(stack, { name: "Bob" });
    const annFeed = await openFeed(ann.token);
    const bobFeed = await openFeed(bob.token);
    const adminFeed = await openFeed(stack.adminKey);
    await eventually(async () => (stack.api.deps.feed.clientCount() >= 3 ? true : undefined), { what: "feeds registered" });

    const annTask = await stack.submitAsync(request("Tell Ann a long story about lighthouses."), ann.token);
    const bobTask = await stack.submitAsync(request("Tell Bob a story.", "gemma-7b", 8), bob.token);

    await eventually(async () => (statusesOf(annFeed, annTask).includes("PENDING") ? true : undefined), { what: "Ann's task to show up PENDING" });
    const worker = await stack.startWorker();
    try {
      const seen = await eventually(async () => (statusesOf(annFeed, annTask).includes("COMPLETED") ? statusesOf(annFeed, annTask) : undefined), {
        what: "Ann's task to show up COMPLETED",
      });
      expect(seen[0]).toBe("PENDING");
      expect(seen).toContain("RUNNING");
      expect(seen[seen.length - 1]).toBe("COMPLETED");
      // Each event is a history row: the last one equals the row GET /v1/ai/tasks now answers.
      const last = annFeed.rows.filter((row) => row.task_id === annTask).pop()!;
      expect(last).toEqual(await historyRowOf(annTask, ann.token));
      expect(last).toMatchObject({ owner_id: ann.id, percent: 100, model: SLOW_MODEL });
      const percents = annFeed.rows.filter((row) => row.task_id === annTask).map((row) => row.percent);
      expect([...percents].sort((a, b) => a - b)).toEqual(percents);

      await eventually(async () => (statusesOf(bobFeed, bobTask).includes("COMPLETED") ? true : undefined), { what: "Bob's task in Bob's feed" });
      await eventually(async () => (statusesOf(adminFeed, annTask).includes("COMPLETED") && statusesOf(adminFeed, bobTask).includes("COMPLETED") ? true : undefined), {
        what: "both tasks in the admin's feed",
      });
      expect(new Set(adminFeed.rows.map((row) => row.owner_id))).toEqual(new Set([ann.id, bob.id]));
      expect(annFeed.rows.every((row) => row.owner_id === ann.id)).toBe(true);
      expect(bobFeed.rows.every((row) => row.owner_id === bob.id)).toBe(true);
      expect(annFeed.eventNames).toEqual(new Set(["task"]));
    } finally {
      await worker.close();
    }
  });

  it("shows a cancelled task as CANCELLED, and lets the admin narrow the feed to one user", async () => {
    const ann = await signedInAccount(stack);
    const bob = await signedInAccount(stack);
    const adminOnAnn = await openFeed(stack.adminKey, `?user_id=${ann.id}`);
    // A user asking for someone else's tasks gets an open feed with nothing in it.
    const bobSnooping = await openFeed(bob.token, `?user_id=${ann.id}`);
    const annFeed = await openFeed(ann.token);
    await eventually(async () => (stack.api.deps.feed.clientCount() >= 2 ? true : undefined));

    const annTask = await stack.submitAsync(request("a task to cancel"), ann.token);
    const bobTask = await stack.submitAsync(request("bob's own task"), bob.token);
    const cancelled = await stack.request(`/v1/ai/tasks/${annTask}/cancel`, { method: "POST", key: ann.token });
    expect(cancelled.status).toBe(200);
    await eventually(async () => (statusesOf(annFeed, annTask).includes("CANCELLED") ? true : undefined), { what: "CANCELLED in Ann's feed" });
    await eventually(async () => (statusesOf(adminOnAnn, annTask).includes("CANCELLED") ? true : undefined), { what: "CANCELLED in the admin's feed of Ann" });
    await stack.request(`/v1/ai/tasks/${bobTask}/cancel`, { method: "POST", key: bob.token });
    // Announced after Bob's cancel, so once it shows, Bob's changes have been through the feed too.
    const sentinel = await stack.submitAsync(request("sentinel"), ann.token);
    await eventually(async () => (statusesOf(adminOnAnn, sentinel).length > 0 ? true : undefined), { what: "the sentinel in the admin's feed of Ann" });
    expect(adminOnAnn.rows.every((row) => row.owner_id === ann.id)).toBe(true);
    expect(bobSnooping.rows).toEqual([]);
  });

  it("shows a task whose queue deadline passed while its queue was paused as EXPIRED, in the feed and in history, with its webhook sent", async () => {
    const adminFeed = await openFeed(stack.adminKey);
    await eventually(async () => (stack.api.deps.feed.clientCount() >= 1 ? true : undefined), { what: "the feed registered" });
    expect((await stack.request("/v1/admin/queues/gemma-7b/pause", { method: "POST" })).status).toBe(200);
    const worker = await stack.startWorker();
    try {
      const taskId = await stack.submitAsync({ ...request("Never started in time.", "gemma-7b", 8), queue_ttl_seconds: 1, webhook: { url: `${receiver.url}/expired`, events: ["expired"] } });
      await eventually(async () => (statusesOf(adminFeed, taskId).includes("PENDING") ? true : undefined), { what: "the task PENDING in the feed" });
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      // The worker takes the job once the queue resumes, finds its deadline passed, and expires it at pickup.
      expect((await stack.request("/v1/admin/queues/gemma-7b/resume", { method: "POST" })).status).toBe(200);
      await eventually(async () => (statusesOf(adminFeed, taskId).includes("EXPIRED") ? true : undefined), { what: "the task EXPIRED in the feed" });
      expect(await historyRowOf(taskId, stack.adminKey)).toMatchObject({ status: "EXPIRED" });
      const hook = await eventually(async () => receiver.at("/expired")[0], { what: "the expired webhook" });
      expect(JSON.parse(hook.body)).toMatchObject({ type: "task.expired", data: { task_id: taskId, status: "EXPIRED" } });
    } finally {
      await worker.close();
    }
  });

  it("refuses a malformed user_id with 400 and an unauthenticated caller with 401", async () => {
    const bad = await stack.request("/v1/ai/tasks/updates?user_id=nope");
    expect(bad.status).toBe(400);
    expect((await json(bad)).errors[0].param).toBe("user_id");
    const anonymous = await fetch(`${stack.url}/v1/ai/tasks/updates`);
    expect(anonymous.status).toBe(401);
  });
});

describe("GET /v1/ai/tasks?user_id=", () => {
  it("lets the admin filter by user; rows carry owner_id; a user never gets another's rows", async () => {
    const ann = await signedInAccount(stack);
    const bob = await signedInAccount(stack);
    const annTask = await stack.submitAsync(request("ann's history", "gemma-7b", 4), ann.token);
    const bobTask = await stack.submitAsync(request("bob's history", "gemma-7b", 4), bob.token);

    const adminOnAnn = (await json(await stack.request(`/v1/ai/tasks?user_id=${ann.id}`))).data.data.tasks as FeedRow[];
    expect(adminOnAnn.map((row) => row.task_id)).toEqual([annTask]);
    expect(adminOnAnn[0]).toMatchObject({ owner_id: ann.id, queue_name: expect.any(String) });

    const annOwn = (await json(await stack.request(`/v1/ai/tasks?user_id=${ann.id}`, { key: ann.token }))).data.data.tasks as FeedRow[];
    expect(annOwn.map((row) => row.task_id)).toEqual([annTask]);
    const annOnBob = (await json(await stack.request(`/v1/ai/tasks?user_id=${bob.id}`, { key: ann.token }))).data.data.tasks as FeedRow[];
    expect(annOnBob).toEqual([]);
    const bobAll = (await json(await stack.request("/v1/ai/tasks", { key: bob.token }))).data.data.tasks as FeedRow[];
    expect(bobAll.map((row) => row.task_id)).toEqual([bobTask]);
  });
});
