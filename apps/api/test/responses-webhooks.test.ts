// Webhooks of OpenAI's Responses API: a background response with a `webhook` is POSTed to a real
// receiver in OpenAI's event format (`response.completed`, `.failed`, `.cancelled`, `.incomplete`),
// signed with Standard Webhooks so that the official SDK's `client.webhooks.unwrap()` verifies it.
import { WebhookDeliveryRepository } from "@llmq/db";
import { type OpenAIFixture, type ReceivedWebhook, type WebhookReceiver, eventually, json, startOpenAIFixture, startWebhookReceiver } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { InvalidWebhookSignatureError } from "openai";
import type { ResponseCreateParamsNonStreaming } from "openai/resources/responses/responses";
import type { UnwrapWebhookEvent } from "openai/resources/webhooks";
import { flexTask, sdkClient, sdkError } from "./openai-sdk-support";

const FAST = "gemma-7b";
const SLOW = "llama-3.1-8b-instruct";
const UPSTREAM = "fixture-model";
// Served by no worker of this suite: its responses stay queued until their queue deadline passes.
const IDLE = "idle-model";

let fixture: OpenAIFixture;
let receiver: WebhookReceiver;
let stack: TestStack;
let client: OpenAI;
let secret: string;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  receiver = await startWebhookReceiver();
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
        { id: IDLE, provider: "fast" },
      ],
    },
    env: {
      // The receiver runs on loopback: allowed here, and only its exact address (the admin key may use it).
      WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
      WEBHOOK_RETRY_DELAYS_MS: "200,400",
      WEBHOOK_TIMEOUT_MS: "2000",
      WORKER_MODELS: `${FAST},${SLOW},${UPSTREAM}`,
      // Sweeper rounds only when a test asks for one.
      SWEEP_INTERVAL_MS: "3600000",
      SWEEP_AFTER_MS: "100",
    },
  });
  client = sdkClient(stack);
  const res = await stack.request("/v1/ai/webhooks/secret");
  expect(res.status).toBe(200);
  secret = (await json(res)).data.data.secret;
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
  await fixture.close();
});

/** The webhook field is ours, sent next to OpenAI's fields as the SDK sends any extra property. */
type WithWebhook = ResponseCreateParamsNonStreaming & { webhook?: unknown; queue_ttl_seconds?: number };

async function background(params: WithWebhook): Promise<{ id: string; taskId: string }> {
  const created = await client.responses.create({ ...params, background: true } as ResponseCreateParamsNonStreaming);
  expect(created.status).toBe("queued");
  return { id: created.id, taskId: created.id.slice("resp_".length) };
}

const received = (path: string, count = 1) =>
  eventually(async () => (receiver.at(path).length >= count ? receiver.at(path) : undefined), { what: `${count} webhook(s) at ${path}` });

async function deliveriesOf(taskId: string, key?: string) {
  const res = await stack.request(`/v1/ai/webhooks/deliveries?task_id=${taskId}`, { key });
  expect(res.status).toBe(200);
  return (await json(res)).data.data.deliveries as { id: string; event_type: string; status: string; attempt_count: number; payload: Record<string, unknown> }[];
}

async function succeededDelivery(taskId: string) {
  const [delivery, ...more] = await eventually(async () => {
    const list = await deliveriesOf(taskId);
    return list[0]?.status === "succeeded" ? list : undefined;
  });
  expect(more).toHaveLength(0);
  return delivery!;
}

async function taskCount(): Promise<number> {
  const rows = await stack.api.deps.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks`;
  return Number(rows[0]!.n);
}

/**
 * The one webhook `path` got for a response, checked as a receiver using the official SDK would: it
 * verifies with the key's secret and is OpenAI's event for `responseId`; a changed byte or another
 * secret does not verify. A sweeper round afterwards sends nothing more.
 */
async function expectOneEvent(path: string, responseId: string, type: UnwrapWebhookEvent["type"]): Promise<{ webhook: ReceivedWebhook; event: UnwrapWebhookEvent }> {
  const [webhook] = await received(path);
  const event = await client.webhooks.unwrap(webhook!.body, webhook!.headers, secret);
  expect(event.type).toBe(type);
  const taskId = responseId.slice("resp_".length);
  const ending = type.slice("response.".length);
  expect(event).toEqual({ id: `evt_${taskId}_${ending}`, object: "event", created_at: expect.any(Number), type, data: { id: responseId } });
  // OpenAI's `created_at`: when the response ended, in seconds.
  const task = await flexTask(stack, taskId);
  expect(event.created_at).toBe(Math.floor(Date.parse(task.completed_at) / 1000));
  expect(webhook!.headers["content-type"]).toBe("application/json");

  await expect(client.webhooks.unwrap(webhook!.body.replace(responseId, `resp_${"0".repeat(32)}`), webhook!.headers, secret)).rejects.toBeInstanceOf(InvalidWebhookSignatureError);
  await expect(client.webhooks.unwrap(webhook!.body, webhook!.headers, `whsec_${Buffer.alloc(32, 7).toString("base64")}`)).rejects.toBeInstanceOf(InvalidWebhookSignatureError);

  await stack.worker!.sweep();
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(receiver.at(path)).toHaveLength(1);
  return { webhook: webhook!, event };
}

describe("response webhooks in OpenAI's event format", () => {
  it("a completed response: response.completed, verified by client.webhooks.unwrap, listed and redeliverable as any delivery", async () => {
    const { id, taskId } = await background({ model: FAST, input: "Say hello.", max_output_tokens: 200, webhook: `${receiver.url}/completed` });
    const { webhook } = await expectOneEvent("/completed", id, "response.completed");
    expect((await client.responses.retrieve(id)).status).toBe("completed");
    // Standard Webhooks' message id: the same on every attempt, so receivers drop duplicates.
    expect(webhook.headers["webhook-id"]).toBe(`msg_${taskId}_completed`);

    const delivery = await succeededDelivery(taskId);
    expect(delivery).toMatchObject({ id: `msg_${taskId}_completed`, event_type: "response.completed", attempt_count: 1 });
    expect(delivery.payload).toEqual(JSON.parse(webhook.body));

    // The sweeper does not take a response's event for a missing one.
    const deliveries = new WebhookDeliveryRepository(stack.api.deps.db);
    expect(await (await deliveries.tasksMissingFinalDelivery({ at: new Date(Date.now() - 3600_000), id: "" }, new Date(Date.now() + 1000), 100)).missing).not.toContain(taskId);

    // A redelivery sends the same event (same webhook-id, same body), freshly signed.
    const res = await stack.request(`/v1/ai/webhooks/deliveries/${delivery.id}/redeliver`, { method: "POST" });
    expect(res.status).toBe(200);
    const [, again] = await received("/completed", 2);
    expect(again!.headers["webhook-id"]).toBe(webhook.headers["webhook-id"]);
    expect(again!.body).toBe(webhook.body);
    expect((await client.webhooks.unwrap(again!.body, again!.headers, secret)).type).toBe("response.completed");
  });

  it("a response cut short by max_output_tokens: response.incomplete", async () => {
    const { id } = await background({ model: FAST, input: "Tell me a long story.", max_output_tokens: 3, webhook: `${receiver.url}/incomplete` });
    await expectOneEvent("/incomplete", id, "response.incomplete");
    const response = await client.responses.retrieve(id);
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
  });

  it("a response the upstream refuses (400): response.failed", async () => {
    const { id, taskId } = await background({ model: UPSTREAM, input: "Reject this [[fixture:status=400]]", webhook: `${receiver.url}/failed` });
    const { webhook } = await expectOneEvent("/failed", id, "response.failed");
    expect(webhook.headers["webhook-id"]).toBe(`msg_${taskId}_failed`);
    expect((await client.responses.retrieve(id)).status).toBe("failed");
  });

  it("a cancelled response: response.cancelled", async () => {
    const { id, taskId } = await background({ model: SLOW, input: "Write at length.", max_output_tokens: 400, webhook: `${receiver.url}/cancelled` });
    await eventually(async () => ((await client.responses.retrieve(id)).status === "in_progress" ? true : undefined), { what: "the response running" });
    const res = await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    const { webhook } = await expectOneEvent("/cancelled", id, "response.cancelled");
    expect(webhook.headers["webhook-id"]).toBe(`msg_${taskId}_cancelled`);
    expect((await client.responses.retrieve(id)).status).toBe("cancelled");
  });

  it("a response that expired in its queue: response.failed (OpenAI has no expired event), sent for the `expired` ending", async () => {
    const { id, taskId } = await background({ model: IDLE, input: "Nobody serves me.", queue_ttl_seconds: 1, webhook: { url: `${receiver.url}/expired`, events: ["expired"] } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await stack.worker!.sweep();
    const { webhook } = await expectOneEvent("/expired", id, "response.failed");
    expect(webhook.headers["webhook-id"]).toBe(`msg_${taskId}_expired`);
    expect((await client.responses.retrieve(id)).status).toBe("failed");
  });

  it("sends nothing for a response without a webhook, nor for an ending its events filter leaves out", async () => {
    const before = receiver.received.length;
    const plain = await background({ model: FAST, input: "No hook." });
    const filtered = await background({ model: FAST, input: "Only failures.", webhook: { url: `${receiver.url}/filtered`, events: ["failed", "cancelled"] } });
    for (const { id } of [plain, filtered]) {
      await eventually(async () => ((await client.responses.retrieve(id)).status === "completed" ? true : undefined), { what: "the response completed" });
    }
    await stack.worker!.sweep();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await deliveriesOf(plain.taskId)).toEqual([]);
    expect(await deliveriesOf(filtered.taskId)).toEqual([]);
    expect(receiver.received.length).toBe(before);
  });

  it("refuses, as OpenAI errors and creating nothing, a webhook the key may not target and progress events (OpenAI has none for responses)", async () => {
    const before = await taskCount();
    const created = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "no private targets" } });
    const tenant = sdkClient(stack, (await json(created)).data.data.key);

    const private_ = await sdkError(() => tenant.responses.create({ model: FAST, input: "hi", background: true, webhook: `${receiver.url}/refused` } as WithWebhook));
    expect(private_.status).toBe(400);
    expect(private_).toMatchObject({ param: "webhook.url", code: "webhook_target_refused" });

    const progress = await sdkError(() => client.responses.create({ model: FAST, input: "hi", background: true, webhook: { url: `${receiver.url}/progress`, events: ["completed", "progress"] } } as WithWebhook));
    expect(progress.status).toBe(400);
    expect(progress.param).toBe("webhook.events");
    expect(progress.message).toMatch(/progress/);

    expect(await taskCount()).toBe(before);
    expect(receiver.at("/refused")).toEqual([]);
    expect(receiver.at("/progress")).toEqual([]);
  });
});
