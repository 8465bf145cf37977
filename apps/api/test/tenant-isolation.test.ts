import { type WebhookReceiver, eventually, json, startWebhookReceiver } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { buildOpenApiDocument } from "../src/openapi/document";

// gemma answers at once; llama writes 2 tokens a second, so tenant A's llama tasks and batches are
// still running while tenant B tries to read, cancel or delete them.
const MODELS = {
  providers: {
    fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
    crawl: { type: "simulated", first_token_ms: 5, tokens_per_second: 2 },
  },
  models: [
    { id: "gemma-7b", provider: "fast", concurrency: 8 },
    { id: "llama-3.1-8b-instruct", provider: "crawl", concurrency: 8 },
  ],
};
const FAST = "gemma-7b";
const SLOW = "llama-3.1-8b-instruct";

/**
 * Routes with an id in their path that are not a tenant's resource, and why. Every other id route of
 * the OpenAPI document must have an isolation case below, or the first test fails.
 */
const NOT_TENANT_RESOURCES: Record<string, string> = {
  "GET /v1/models/{model}": "models are shared by every key",
  "DELETE /v1/admin/keys/{keyId}": "admin only: any other key gets 403 before the id is looked at (tested in auth-and-isolation)",
  "PATCH /v1/admin/keys/{keyId}": "admin only, as above",
  "PATCH /v1/admin/users/{userId}": "admin only: any other key gets 403 before the id is looked at, even for its own user (tested in stream-revocation and deadlines-and-quotas)",
  "DELETE /v1/admin/users/{userId}": "admin only, as above",
  "POST /v1/admin/queues/{model}/pause": "admin only, and queues are the deployment's, not a tenant's (tested in retry-and-queues)",
  "POST /v1/admin/queues/{model}/resume": "admin only, as above",
};

type Dialect = "flexstack" | "openai";
interface Case {
  route: string;
  path: string;
  method: "GET" | "POST" | "DELETE";
  dialect: Dialect;
  /** The id in `path`; replaced by a well-formed id that does not exist for the control request. */
  id: string;
  /** What the owner sees of the resource: taken before and after the stranger's attempts, must be equal. */
  state: () => Promise<unknown>;
}

let stack: TestStack;
let receiver: WebhookReceiver;
let a: { key: string; user_id: string };
let b: { key: string; user_id: string };
const cases: Case[] = [];
/** Cancels (as the admin) of A's still-running work, so the crawling tasks do not hold the worker at close. */
const cleanup: string[] = [];

async function createKey(name: string) {
  // Granted private webhook targets: the receiver runs on loopback.
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name, webhooks: { allow_private_targets: true } } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data as { key: string; user_id: string };
}

/** The owner's view of `path` (status and body), used to prove a stranger changed nothing. */
async function ownerView(path: string): Promise<unknown> {
  const res = await stack.request(path, { key: a.key });
  const text = await res.text();
  return { status: res.status, body: text };
}

/** A's view of a task, without the fields that move while it runs. */
async function taskState(taskId: string) {
  const task = await stack.api.deps.tasks.findById(taskId);
  return { status: task?.status === "PENDING" || task?.status === "RUNNING" ? "live" : task?.status, owner: task?.ownerId };
}

function upload(lines: unknown[], key: string) {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([lines.map((l) => JSON.stringify(l)).join("\n") + "\n"]), "input.jsonl");
  return stack.request("/v1/files", { method: "POST", body: form, key });
}

const batchLine = (id: string, model: string) => ({
  custom_id: id,
  method: "POST",
  url: "/v1/chat/completions",
  body: { model, messages: [{ role: "user", content: `line ${id}` }], max_tokens: model === SLOW ? 400 : 8 },
});

/** Another id of the same shape: the last hex digit changed. */
function missingLike(id: string): string {
  const last = id.at(-1)!;
  return id.slice(0, -1) + (last === "0" ? "1" : "0");
}

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startTestStack({ models: MODELS, env: { WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32" } });
  [a, b] = await Promise.all([createKey("tenant A"), createKey("tenant B")]);
  const slowTask = { messages: [{ role: "user", content: "slow" }], configs: { model: SLOW, max_tokens: 400 } };

  // Tasks (task dialect): still running while B probes them.
  const taskId = await stack.submitAsync(slowTask, a.key);
  cleanup.push(`/v1/ai/tasks/${taskId}/cancel`);
  for (const [suffix, method] of [["", "GET"], ["/events", "GET"], ["/cancel", "POST"]] as const) {
    cases.push({ route: `${method} /v1/ai/tasks/{taskId}${suffix}`, path: `/v1/ai/tasks/${taskId}${suffix}`, method, dialect: "flexstack", id: taskId, state: () => taskState(taskId) });
  }
  // A stranger's retry must not confirm the task (404, not 409 task_not_final) nor create one.
  cases.push({
    route: "POST /v1/ai/tasks/{taskId}/retry",
    path: `/v1/ai/tasks/${taskId}/retry`,
    method: "POST",
    dialect: "flexstack",
    id: taskId,
    state: async () => ({ task: await taskState(taskId), tasks: await stack.api.deps.db.task.count() }),
  });

  // OpenAI completions, created asynchronously.
  for (const [route, body] of [
    ["/v1/chat/completions", { model: SLOW, messages: [{ role: "user", content: "slow chat" }], max_tokens: 400 }],
    ["/v1/completions", { model: SLOW, prompt: "slow completion", max_tokens: 400 }],
  ] as const) {
    const res = await stack.request(route, { method: "POST", json: body, key: a.key, headers: { prefer: "respond-async" } });
    expect(res.status).toBe(202);
    const id = (await json(res)).id as string;
    const taskOf = res.headers.get("x-task-id")!;
    cleanup.push(`/v1/ai/tasks/${taskOf}/cancel`);
    cases.push({ route: `GET ${route}/{completionId}`, path: `${route}/${id}`, method: "GET", dialect: "openai", id, state: () => taskState(taskOf) });
  }

  // A Responses API response, in the background: a stranger's cancel or delete must leave it running and whole.
  {
    const res = await stack.request("/v1/responses", { method: "POST", json: { model: SLOW, input: "slow response", max_output_tokens: 400, background: true }, key: a.key });
    expect(res.status).toBe(200);
    const id = (await json(res)).id as string;
    const taskOf = res.headers.get("x-task-id")!;
    cleanup.push(`/v1/ai/tasks/${taskOf}/cancel`);
    const state = async () => ({ task: await taskState(taskOf), messages: (await stack.api.deps.tasks.findById(taskOf))?.messages });
    for (const [suffix, method] of [["", "GET"], ["/cancel", "POST"], ["", "DELETE"], ["/input_items", "GET"]] as const) {
      cases.push({ route: `${method} /v1/responses/{responseId}${suffix}`, path: `/v1/responses/${id}${suffix}`, method, dialect: "openai", id, state });
    }
  }

  // An uploaded file; a running OpenAI batch over it; a finished one with its output file.
  const fileRes = await upload([batchLine("s-1", SLOW), batchLine("s-2", SLOW)], a.key);
  expect(fileRes.status).toBe(200);
  const fileId = (await json(fileRes)).id as string;
  const running = await stack.request("/v1/batches", { method: "POST", key: a.key, json: { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" } });
  expect(running.status).toBe(200);
  const runningId = (await json(running)).id as string;
  cleanup.push(`/v1/batches/${runningId}/cancel`);
  const fastFile = (await json(await upload([batchLine("f-1", FAST)], a.key))).id as string;
  const done = await stack.request("/v1/batches", { method: "POST", key: a.key, json: { input_file_id: fastFile, endpoint: "/v1/chat/completions", completion_window: "24h" } });
  const doneId = (await json(done)).id as string;
  const outputFileId = await eventually(async () => ((await json(await stack.request(`/v1/batches/${doneId}`, { key: a.key }))).output_file_id ?? undefined) as string | undefined, {
    timeoutMs: 30_000,
    what: "A's fast batch to complete",
  });
  expect(outputFileId).toMatch(/^file-batch-/);
  for (const id of [fileId, outputFileId]) {
    for (const [suffix, method] of [["", "GET"], ["/content", "GET"], ["", "DELETE"]] as const) {
      cases.push({ route: `${method} /v1/files/{fileId}${suffix}`, path: `/v1/files/${id}${suffix}`, method, dialect: "openai", id, state: () => ownerView(`/v1/files/${id}`) });
    }
  }
  const batchState = async () => {
    const batch = await json(await stack.request(`/v1/batches/${runningId}`, { key: a.key }));
    return { status: batch.status === "validating" || batch.status === "in_progress" ? "live" : batch.status, cancelling_at: batch.cancelling_at };
  };
  cases.push({ route: "GET /v1/batches/{batchId}", path: `/v1/batches/${runningId}`, method: "GET", dialect: "openai", id: runningId, state: batchState });
  cases.push({ route: "POST /v1/batches/{batchId}/cancel", path: `/v1/batches/${runningId}/cancel`, method: "POST", dialect: "openai", id: runningId, state: batchState });

  // A native batch, still running.
  const native = await stack.request("/v1/ai/batches", { method: "POST", key: a.key, json: { requests: [{ ...slowTask, custom_id: "n-1" }] } });
  expect(native.status).toBe(200);
  const nativeId = (await json(native)).data.data.batch_id as string;
  cleanup.push(`/v1/ai/batches/${nativeId}/cancel`);
  const nativeState = async () => {
    const batch = await stack.api.deps.batches.findById(nativeId);
    return { cancelled: batch?.cancelledAt ?? null, owner: batch?.ownerId, tasks: await stack.api.deps.db.task.count({ where: { batchId: nativeId, status: "CANCELLED" } }) };
  };
  for (const [suffix, method] of [["", "GET"], ["/results", "GET"], ["/cancel", "POST"]] as const) {
    cases.push({ route: `${method} /v1/ai/batches/{batchId}${suffix}`, path: `/v1/ai/batches/${nativeId}${suffix}`, method, dialect: "flexstack", id: nativeId, state: nativeState });
  }

  // A webhook delivery, delivered.
  const hooked = await stack.submitAsync({ messages: [{ role: "user", content: "hook" }], configs: { model: FAST, max_tokens: 4 }, webhook: `${receiver.url}/a` }, a.key);
  const deliveryId = await eventually(async () => {
    const list = await json(await stack.request(`/v1/ai/webhooks/deliveries?task_id=${hooked}`, { key: a.key }));
    const delivery = list.data.data.deliveries.find((d: { status: string }) => d.status === "succeeded");
    return delivery?.id as string | undefined;
  }, { timeoutMs: 30_000, what: "A's webhook to be delivered" });
  const deliveryState = async () => {
    const row = await stack.api.deps.db.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { attempts: true } });
    return { status: row?.status, attempts: row?.attempts.length, attemptCount: row?.attemptCount, next: row?.nextAttemptAt };
  };
  for (const [suffix, method] of [["", "GET"], ["/redeliver", "POST"]] as const) {
    cases.push({ route: `${method} /v1/ai/webhooks/deliveries/{deliveryId}${suffix}`, path: `/v1/ai/webhooks/deliveries/${deliveryId}${suffix}`, method, dialect: "flexstack", id: deliveryId, state: deliveryState });
  }

  // Flexstack's own paths (`/ai/...`) serve the same routes: every task-API case again through them.
  for (const c of cases.filter((c) => c.path.startsWith("/v1/ai/"))) {
    cases.push({ ...c, route: c.route.replace(" /v1/ai/", " /ai/"), path: c.path.slice("/v1".length) });
  }
}, 90_000);

afterAll(async () => {
  for (const path of cleanup) await stack.request(path, { method: "POST" });
  await stack?.close();
  await receiver?.close();
});

function expectNotFound(dialect: Dialect, status: number, body: any) {
  expect(status).toBe(404);
  if (dialect === "openai") {
    expect(body).toEqual({ error: { message: expect.any(String), type: "invalid_request_error", param: expect.anything(), code: expect.any(String) } });
  } else {
    expect(body).toMatchObject({ data: null, status: "error", errors: [{ code: expect.any(String), message: expect.any(String) }] });
  }
}

describe("tenant isolation", () => {
  it("has a case for every route of the OpenAPI document that takes an id", () => {
    const idRoutes = new Set<string>();
    for (const [path, item] of Object.entries(buildOpenApiDocument().paths ?? {})) {
      for (const method of ["get", "post", "put", "patch", "delete"]) {
        if (path.includes("{") && (item as Record<string, unknown>)[method]) idRoutes.add(`${method.toUpperCase()} ${path}`);
      }
    }
    const covered = new Set(cases.map((c) => c.route));
    const uncovered = [...idRoutes].filter((route) => !covered.has(route) && !(route in NOT_TENANT_RESOURCES));
    expect(uncovered).toEqual([]);
    // And no case or exclusion names a route that no longer exists.
    expect([...covered, ...Object.keys(NOT_TENANT_RESOURCES)].filter((route) => !idRoutes.has(route))).toEqual([]);
  });

  it("answers another tenant 404, exactly as for an id that does not exist, and changes nothing", async () => {
    const checked: string[] = [];
    for (const c of cases) {
      const before = await c.state();
      const res = await stack.request(c.path, { method: c.method, key: b.key });
      const body = await json(res);
      expectNotFound(c.dialect, res.status, body);
      expect(JSON.stringify(body)).not.toContain(a.user_id);

      const control = await stack.request(c.path.replace(c.id, missingLike(c.id)), { method: c.method, key: b.key });
      const controlBody = await json(control);
      expect(control.status).toBe(404);
      const messageOf = (x: any) => (c.dialect === "openai" ? x.error.message : x.errors[0].message) as string;
      const codeOf = (x: any) => (c.dialect === "openai" ? x.error.code : x.errors[0].code) as string;
      expect(messageOf(body).replace(c.id, missingLike(c.id))).toBe(messageOf(controlBody));
      expect(codeOf(body)).toBe(codeOf(controlBody));

      expect(await c.state()).toEqual(before);
      checked.push(`${c.route} (${c.id.slice(0, 12)})`);
    }
    expect(checked).toHaveLength(cases.length);

    // The owner still reaches every resource, and each resource was really live and A's.
    for (const c of cases.filter((x) => x.method === "GET" && !x.route.endsWith("/events"))) {
      const res = await stack.request(c.path, { key: a.key });
      expect([c.route, res.status]).toEqual([c.route, 200]);
      await res.arrayBuffer();
    }
    // The stranger's redeliver queued no attempt: A's delivery still has exactly the one that succeeded.
    expect(await stack.api.deps.db.webhookAttempt.count()).toBe(receiver.at("/a").length);
  });
});
