import { type WebhookReceiver, eventually, freePort, json, startNotHttpServer, startWebhookReceiver, verifyWebhook } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";
import { signedInAccount } from "./account-support";

const FAST = "gemma-7b";
const SLOW = "llama-3.1-8b-instruct";

let stack: TestStack;
let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startTestStack({
    models: FAST_AND_SLOW_MODELS,
    env: {
      // The receiver runs on loopback: allowed here, and only its exact address.
      WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
      WEBHOOK_RETRY_DELAYS_MS: "200,400",
      WEBHOOK_TIMEOUT_MS: "2000",
      SWEEP_INTERVAL_MS: "200",
      SWEEP_AFTER_MS: "200",
    },
  });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
});

function task(content: string, webhook: unknown, model = FAST, maxTokens = 8) {
  return { messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens }, webhook };
}

async function newTenantKey(name: string): Promise<string> {
  return (await newTenant(name)).key;
}

async function newTenant(name: string): Promise<{ id: string; key: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  const { id, key } = (await json(res)).data.data;
  return { id, key };
}

/** The admin's grant of private webhook targets (the operator's WEBHOOK_ALLOWED_CIDRS) to a key. */
async function grantPrivateTargets(keyId: string, allowed = true) {
  const res = await stack.request(`/v1/admin/keys/${keyId}`, { method: "PATCH", json: { webhooks: { allow_private_targets: allowed } } });
  expect(res.status).toBe(200);
  expect((await json(res)).data.data.webhooks).toEqual({ allow_private_targets: allowed });
}

/** A tenant key the admin granted private targets: the receiver runs on loopback. */
async function grantedTenantKey(name: string): Promise<string> {
  const tenant = await newTenant(name);
  await grantPrivateTargets(tenant.id);
  return tenant.key;
}

async function secretOf(key?: string): Promise<string> {
  const res = await stack.request("/v1/ai/webhooks/secret", { key });
  expect(res.status).toBe(200);
  return (await json(res)).data.data.secret;
}

async function deliveriesOf(taskOrBatch: { task_id?: string; batch_id?: string }, key?: string) {
  const query = new URLSearchParams(taskOrBatch as Record<string, string>);
  const res = await stack.request(`/v1/ai/webhooks/deliveries?${query}`, { key });
  expect(res.status).toBe(200);
  return (await json(res)).data.data.deliveries as {
    id: string;
    event_type: string;
    status: string;
    attempt_count: number;
    last_error: string | null;
    attempts: { attempt: number; status_code: number | null; error: string | null; response_body: string | null; duration_ms: number }[];
  }[];
}

async function taskCount(): Promise<number> {
  const res = await stack.request("/v1/ai/tasks?limit=200");
  return (await json(res)).data.data.tasks.length;
}

const received = (path: string, count: number) =>
  eventually(async () => (receiver.at(path).length >= count ? receiver.at(path) : undefined), { what: `${count} webhooks at ${path}` });

describe("task webhooks", () => {
  it("POSTs task.completed signed with the key's secret, carrying the task as GET shows it", async () => {
    const key = await grantedTenantKey("webhook tenant");
    const taskId = await stack.submitAsync(task("hello", `${receiver.url}/completed`), key);
    const [webhook] = await received("/completed", 1);
    const secret = await secretOf(key);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);

    const body = verifyWebhook(secret, webhook!) as { type: string; timestamp: string; data: Record<string, unknown> };
    expect(webhook!.headers["webhook-id"]).toBe(`msg_${taskId}_completed`);
    expect(webhook!.headers["content-type"]).toBe("application/json");
    expect(body.type).toBe("task.completed");
    // Queue position and ETA belong to polling a waiting task; everything else is the same object.
    const { queue_position: _position, eta_seconds: _eta, ...current } = (await json(await stack.request(`/v1/ai/tasks/${taskId}`, { key }))).data.data;
    expect(body.data).toEqual(current);
    expect(current.status).toBe("COMPLETED");
    // The signature covers the body: a changed byte, or another key's secret, does not verify.
    expect(() => verifyWebhook(secret, { ...webhook!, body: webhook!.body.replace("COMPLETED", "FAILED") })).toThrow();
    expect(() => verifyWebhook(/* the admin's */ "whsec_" + Buffer.alloc(32, 7).toString("base64"), webhook!)).toThrow();

    const [delivery] = await eventually(async () => {
      const list = await deliveriesOf({ task_id: taskId }, key);
      return list[0]?.status === "succeeded" ? list : undefined;
    });
    expect(delivery).toMatchObject({ id: `msg_${taskId}_completed`, event_type: "task.completed", attempt_count: 1 });
    expect(delivery!.attempts).toEqual([expect.objectContaining({ attempt: 1, status_code: 200, error: null })]);
  });

  it("retries a failing receiver with backoff, same webhook-id, and shows every attempt", async () => {
    receiver.answer("/flaky", [{ status: 500, body: "down" }, { status: 503 }, { status: 204 }]);
    const taskId = await stack.submitAsync(task("retry me", `${receiver.url}/flaky`));
    const attempts = await received("/flaky", 3);
    expect(new Set(attempts.map((a) => a.headers["webhook-id"]))).toEqual(new Set([`msg_${taskId}_completed`]));
    // The schedule's delays (200 ms, then 400 ms) separate the attempts.
    expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(190);
    expect(attempts[2]!.receivedAt - attempts[1]!.receivedAt).toBeGreaterThanOrEqual(390);
    const secret = await secretOf();
    for (const attempt of attempts) verifyWebhook(secret, attempt);

    const [delivery] = await eventually(async () => {
      const list = await deliveriesOf({ task_id: taskId });
      return list[0]?.status === "succeeded" ? list : undefined;
    });
    expect(delivery!.attempt_count).toBe(3);
    expect(delivery!.attempts.map((a) => a.status_code)).toEqual([500, 503, 204]);
    // The receiver is on loopback, a private target: nothing of its answer is kept but the status.
    expect(delivery!.attempts.map((a) => a.response_body)).toEqual([null, null, null]);
  });

  it("gives up after the schedule, and a redelivery sends it once more", async () => {
    receiver.answer("/down", [{ status: 502 }, { status: 502 }, { status: 502 }, { status: 200 }]);
    const taskId = await stack.submitAsync(task("nobody home", `${receiver.url}/down`));
    const [failed] = await eventually(async () => {
      const list = await deliveriesOf({ task_id: taskId });
      return list[0]?.status === "failed" ? list : undefined;
    });
    expect(failed!.attempt_count).toBe(3);
    expect(failed!.last_error).toBe("HTTP 502");
    expect(receiver.at("/down")).toHaveLength(3);

    const res = await stack.request(`/v1/ai/webhooks/deliveries/${failed!.id}/redeliver`, { method: "POST" });
    expect(res.status).toBe(200);
    await received("/down", 4);
    const [delivered] = await eventually(async () => {
      const list = await deliveriesOf({ task_id: taskId });
      return list[0]?.status === "succeeded" ? list : undefined;
    });
    expect(delivered!.attempt_count).toBe(4);
  });

  it("stops at once on 410 Gone", async () => {
    receiver.answer("/gone", [{ status: 410 }]);
    const taskId = await stack.submitAsync(task("gone", `${receiver.url}/gone`));
    const [delivery] = await eventually(async () => {
      const list = await deliveriesOf({ task_id: taskId });
      return list[0]?.status === "failed" ? list : undefined;
    });
    expect(delivery!.attempt_count).toBe(1);
    expect(receiver.at("/gone")).toHaveLength(1);
  });

  it("sends only the events asked for: progress by quarters, and nothing for an unwanted ending", async () => {
    const unwanted = await stack.submitAsync(task("only failures", { url: `${receiver.url}/filtered`, events: ["failed"] }));
    await eventually(async () => ((await json(await stack.request(`/v1/ai/tasks/${unwanted}`))).data.data.status === "COMPLETED" ? true : undefined));
    // A slow task (40 tokens/s) checkpoints often enough to cross each quarter.
    const watched = await stack.submitAsync(task("tell me everything", { url: `${receiver.url}/progress`, events: ["progress", "completed"] }, SLOW, 40));
    const messages = await eventually(async () => {
      const all = receiver.at("/progress");
      return all.some((m) => m.headers["webhook-id"] === `msg_${watched}_completed`) ? all : undefined;
    });
    // Each quarter crossed once, at most: deliveries run concurrently (and would be retried apart), so
    // their order of arrival is not promised (docs/webhooks.md); each says how far its task had got.
    const ids = messages.map((m) => m.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => ![`msg_${watched}_progress_25`, `msg_${watched}_progress_50`, `msg_${watched}_progress_75`, `msg_${watched}_completed`].includes(id!))).toEqual([]);
    const progress = messages.filter((m) => m.headers["webhook-id"]!.includes("_progress_"));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const message of progress) {
      const body = JSON.parse(message.body);
      expect(body.type).toBe("task.progress");
      expect(body.data.status).toBe("RUNNING");
      expect(body.data.percent).toBeGreaterThanOrEqual(Number(/_progress_(\d+)$/.exec(message.headers["webhook-id"]!)![1]));
    }
    // The sweeper has had many rounds since: still nothing for the completed task that wanted only failures.
    expect(receiver.at("/filtered")).toHaveLength(0);
    expect(await deliveriesOf({ task_id: unwanted })).toEqual([]);
  });

  it("sends task.cancelled when a task is cancelled", async () => {
    const taskId = await stack.submitAsync(task("long", `${receiver.url}/cancelled`, SLOW, 400));
    const res = await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    const [webhook] = await received("/cancelled", 1);
    expect(webhook!.headers["webhook-id"]).toBe(`msg_${taskId}_cancelled`);
    expect(JSON.parse(webhook!.body)).toMatchObject({ type: "task.cancelled", data: { task_id: taskId, status: "CANCELLED" } });
  });

  it("the sweeper sends a final event whose delivery was never written (a crash between the two writes)", async () => {
    const taskId = await stack.submitAsync(task("lost", undefined));
    await eventually(async () => ((await json(await stack.request(`/v1/ai/tasks/${taskId}`))).data.data.status === "COMPLETED" ? true : undefined));
    // As if the worker had died right after committing COMPLETED: the task has a webhook, no delivery exists.
    const webhook = JSON.stringify({ url: `${receiver.url}/lost`, events: ["completed"], key_id: null });
    await stack.api.deps.db.$executeRaw`UPDATE tasks SET webhook = ${webhook}::jsonb WHERE task_id = ${taskId}`;
    const [message] = await received("/lost", 1);
    expect(message!.headers["webhook-id"]).toBe(`msg_${taskId}_completed`);
    verifyWebhook(await secretOf(), message!);
  });
});

describe("batch webhooks", () => {
  it("a native batch sends batch.completed with its counts", async () => {
    const res = await stack.request("/v1/ai/batches", {
      method: "POST",
      json: { requests: ["a", "b", "c"].map((content) => task(content, undefined)).map(({ webhook: _unused, ...item }) => item), webhook: `${receiver.url}/native` },
    });
    expect(res.status).toBe(200);
    const batchId = (await json(res)).data.data.batch_id;
    const [webhook] = await received("/native", 1);
    verifyWebhook(await secretOf(), webhook!);
    expect(webhook!.headers["webhook-id"]).toBe(`msg_${batchId}_completed`);
    expect(JSON.parse(webhook!.body)).toMatchObject({
      type: "batch.completed",
      data: { batch_id: batchId, status: "completed", percent: 100, request_counts: { total: 3, completed: 3, failed: 0 } },
    });
    expect((await deliveriesOf({ batch_id: batchId }))[0]).toMatchObject({ event_type: "batch.completed" });
  });

  it("an OpenAI batch takes a webhook through the SDK's extra body", async () => {
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey });
    const line = (id: string) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: FAST, messages: [{ role: "user", content: id }], max_tokens: 5 } });
    const file = await client.files.create({ file: await toFile(Buffer.from(`${line("x")}\n${line("y")}\n`), "in.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
      // @ts-expect-error our extension, not in the SDK's types
      webhook: { url: `${receiver.url}/openai`, events: ["completed", "failed"] },
    });
    const [webhook] = await received("/openai", 1);
    expect(JSON.parse(webhook!.body)).toMatchObject({ type: "batch.completed", data: { batch_id: batch.id, request_counts: { total: 2, completed: 2 } } });
  });
});

describe("webhook targets and isolation", () => {
  it.each([
    ["a private address", "http://10.0.0.7/hook"],
    ["a private address (192.168)", "http://192.168.1.20:8080/hook"],
    ["the cloud metadata service", "http://169.254.169.254/latest/meta-data"],
    ["loopback outside the allowed /32", "http://127.0.0.2/hook"],
    ["IPv6 loopback", "http://[::1]/hook"],
    ["an IPv4-mapped private address", "http://[::ffff:10.0.0.1]/hook"],
    ["an IPv4-compatible loopback address outside the allowed /32", "http://[::7f00:2]:8080/hook"],
    ["an IPv4-compatible private address", "http://[::a00:7]/hook"],
    ["the unspecified address", "http://0.0.0.0/hook"],
  ])("refuses %s with 400 and writes nothing", async (_what, url) => {
    const before = await taskCount();
    const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task("x", url) });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.errors[0]).toMatchObject({ param: "webhook.url", code: "webhook_target_refused" });
    expect(body.error_description).toContain("WEBHOOK_ALLOWED_CIDRS");
    expect(await taskCount()).toBe(before);
  });

  it.each([
    ["a non-http scheme", "ftp://example.com/x", "webhook.url"],
    ["credentials in the URL", "https://user:pass@example.com/x", "webhook.url"],
    ["a URL that is not one", { url: "not a url" }, "webhook.url"],
    ["a number", 42, "webhook"],
    ["an unknown event", { url: "https://example.com/x", events: ["started"] }, "webhook.events.0"],
  ])("refuses %s with 400 naming the field", async (_what, webhook, param) => {
    const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task("x", webhook) });
    expect(res.status).toBe(400);
    expect((await json(res)).errors[0].param).toBe(param);
  });

  it("refuses private targets for batches too", async () => {
    const res = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [{ messages: [{ role: "user", content: "x" }] }], webhook: "http://10.1.2.3/" } });
    expect(res.status).toBe(400);
    expect((await json(res)).errors[0].param).toBe("webhook.url");
  });

  it("another tenant's deliveries answer 404 and never appear in its list", async () => {
    const owner = await grantedTenantKey("owner");
    const stranger = await grantedTenantKey("stranger");
    const taskId = await stack.submitAsync(task("mine", `${receiver.url}/private`), owner);
    const [delivery] = await eventually(async () => {
      const list = await deliveriesOf({ task_id: taskId }, owner);
      return list.length > 0 ? list : undefined;
    });
    expect((await stack.request(`/v1/ai/webhooks/deliveries/${delivery!.id}`, { key: stranger })).status).toBe(404);
    expect((await stack.request(`/v1/ai/webhooks/deliveries/${delivery!.id}/redeliver`, { method: "POST", key: stranger })).status).toBe(404);
    expect(await deliveriesOf({ task_id: taskId }, stranger)).toEqual([]);
    // Each key has its own secret; rotating one changes only it.
    const [ownerSecret, strangerSecret] = [await secretOf(owner), await secretOf(stranger)];
    expect(ownerSecret).not.toBe(strangerSecret);
    const rotated = (await json(await stack.request("/v1/ai/webhooks/secret/rotate", { method: "POST", key: owner }))).data.data.secret;
    expect(rotated).not.toBe(ownerSecret);
    expect(await secretOf(owner)).toBe(rotated);
    expect(await secretOf(stranger)).toBe(strangerSecret);
  });
});

async function ended(taskId: string, key?: string) {
  const [delivery] = await eventually(
    async () => {
      const list = await deliveriesOf({ task_id: taskId }, key);
      return list[0] && list[0].status !== "pending" ? list : undefined;
    },
    { timeoutMs: 30_000, what: `the delivery of ${taskId} to end` },
  );
  return delivery!;
}

describe("private targets are an admin grant per key, within WEBHOOK_ALLOWED_CIDRS", () => {
  it("a tenant key without the grant is refused a loopback target the operator allows, and nothing is written", async () => {
    const key = await newTenantKey("no grant");
    const before = await taskCount();
    const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", key, json: task("x", `${receiver.url}/ungranted`) });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.errors[0]).toMatchObject({ param: "webhook.url", code: "webhook_target_refused" });
    expect(body.error_description).toContain("allow_private_targets");
    expect(body.error_description).not.toContain("127.0.0.1/32");
    expect(await taskCount()).toBe(before);
    // Batches too, in both dialects' batch routes.
    const batch = await stack.request("/v1/ai/batches", { method: "POST", key, json: { requests: [{ messages: [{ role: "user", content: "x" }] }], webhook: `${receiver.url}/ungranted` } });
    expect(batch.status).toBe(400);
    expect(receiver.at("/ungranted")).toHaveLength(0);
  });

  it("a non-admin user's session is refused it; an admin's session is allowed", async () => {
    const user = await signedInAccount(stack);
    const refused = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", key: user.token, json: task("x", `${receiver.url}/session`) });
    expect(refused.status).toBe(400);
    expect((await json(refused)).errors[0].code).toBe("webhook_target_refused");
    const admin = await signedInAccount(stack, { isAdmin: true });
    await stack.submitAsync(task("x", `${receiver.url}/session`), admin.token);
    await received("/session", 1);
  });

  it("the admin grants it with PATCH /v1/admin/keys/{id} (shown in GET); withdrawn, the next delivery attempt is refused", async () => {
    const tenant = await newTenant("granted later");
    await grantPrivateTargets(tenant.id);
    const keys = (await json(await stack.request("/v1/admin/keys"))).data.data as { id: string; webhooks: unknown }[];
    expect(keys.find((k) => k.id === tenant.id)?.webhooks).toEqual({ allow_private_targets: true });

    // Accepted while granted; the grant is withdrawn while the task runs (a second at 40 tokens/s).
    const taskId = await stack.submitAsync(task("slow", `${receiver.url}/withdrawn`, SLOW, 40), tenant.key);
    await grantPrivateTargets(tenant.id, false);
    const delivery = await ended(taskId, tenant.key);
    expect(delivery).toMatchObject({ status: "failed", attempt_count: 1 });
    expect(delivery.attempts[0]).toMatchObject({ status_code: null, response_body: null });
    expect(receiver.at("/withdrawn")).toHaveLength(0);
  });

  it("keeps nothing of a private target's answer, and tells a closed port and a port that does not speak HTTP apart in no way", async () => {
    const key = await grantedTenantKey("prober");
    receiver.answer("/answer", [{ status: 500, body: "internal admin page: secret=42" }, { status: 200, body: "more internal data" }]);
    const answered = await stack.submitAsync(task("a", `${receiver.url}/answer`), key);
    const other = await startNotHttpServer();
    try {
      const [toClosed, toGarbled] = await Promise.all([
        stack.submitAsync(task("b", `http://127.0.0.1:${await freePort()}/x`), key),
        stack.submitAsync(task("c", `http://127.0.0.1:${other.port}/x`), key),
      ]);
      const [delivered, closed, garbled] = await Promise.all([ended(answered, key), ended(toClosed, key), ended(toGarbled, key)]);
      expect(delivered.status).toBe("succeeded");
      expect(delivered.attempts.map((a) => [a.status_code, a.response_body])).toEqual([[500, null], [200, null]]);
      expect(JSON.stringify(delivered)).not.toContain("secret=42");

      expect(closed.status).toBe("failed");
      expect(garbled.status).toBe("failed");
      const shape = (d: typeof closed) => ({ last_error: d.last_error, attempts: d.attempts.map((a) => ({ status_code: a.status_code, error: a.error, response_body: a.response_body, duration_ms: a.duration_ms })) });
      expect(shape(garbled)).toEqual(shape(closed));
      expect(closed.last_error).not.toMatch(/ECONN|refused|reset|hang up|parse|HPE_|127\.0\.0\.1|:\d{2,5}/i);
    } finally {
      await other.close();
    }
  });

  it("refuses a port outside WEBHOOK_ALLOWED_PORTS (default 80, 443, 1024-65535), public or private", async () => {
    for (const url of ["http://127.0.0.1:22/hook", "http://8.8.8.8:25/hook", "https://8.8.8.8:636/hook"]) {
      const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task("x", url) });
      const body = await json(res);
      expect({ url, status: res.status, code: body.errors?.[0]?.code }).toEqual({ url, status: 400, code: "webhook_target_refused" });
      expect(body.error_description).toContain("WEBHOOK_ALLOWED_PORTS");
    }
  });
});
