import { createHash } from "node:crypto";
import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// No worker at first: tenant A's task stays PENDING while tenant B tries to cancel it, so a wrongly
// allowed cancel would show. A worker is started later to prove the task was left intact.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack.close();
});

const REQUEST = { messages: [{ role: "user", content: "isolation" }], configs: { model: "gemma-7b", max_tokens: 8 } };

/** Creates a key (and so a new tenant) with the admin key; returns the created key's fields. */
async function createKey(name: string) {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data as { id: string; key: string; prefix: string; user_id: string; name: string };
}

function expectFlexError(body: any, code: string) {
  expect(body).toMatchObject({ data: null, status: "error", errors: [{ code }] });
  expect(typeof body.errors[0].message).toBe("string");
  expect(body.error_description).toBe(body.errors[0].message);
}

describe("authentication", () => {
  it("answers 401 invalid_api_key without a key, with a malformed header, and with an unknown key", async () => {
    const noKey = await fetch(`${stack.url}/v1/ai/tasks`);
    expect(noKey.status).toBe(401);
    expectFlexError(await json(noKey), "invalid_api_key");

    const notBearer = await fetch(`${stack.url}/v1/ai/tasks`, { headers: { authorization: `Basic ${stack.adminKey}` } });
    expect(notBearer.status).toBe(401);
    expectFlexError(await json(notBearer), "invalid_api_key");

    const unknown = await stack.request("/v1/ai/tasks", { key: "llmq_this-key-was-never-issued-0123456789abcdef" });
    expect(unknown.status).toBe(401);
    expectFlexError(await json(unknown), "invalid_api_key");

    // Admin routes too, before anything else is looked at.
    const admin = await fetch(`${stack.url}/v1/admin/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(admin.status).toBe(401);
    expectFlexError(await json(admin), "invalid_api_key");
  });

  it("answers 401 before looking at the body, and writes nothing", async () => {
    const tasksBefore = await stack.api.deps.db.task.count();
    const post = (body: string, key?: string) =>
      fetch(`${stack.url}/v1/ai/text_completion`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body,
      });
    for (const key of [undefined, "llmq_unknown-key-0123456789abcdef0123456789abcdef"]) {
      for (const body of ['{"messages": [', "x".repeat(2 * 1024 * 1024), JSON.stringify(REQUEST)]) {
        const res = await post(body, key);
        expect(res.status).toBe(401);
        expectFlexError(await json(res), "invalid_api_key");
      }
    }
    expect(await stack.api.deps.db.task.count()).toBe(tasksBefore);
  });
});

describe("API keys", () => {
  it("shows the secret once, lists keys without it, and stores only its hash", async () => {
    const created = await createKey("key under test");
    expect(created.key).toMatch(/^llmq_[A-Za-z0-9_-]{40,}$/);
    expect(created.name).toBe("key under test");
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(created.prefix.length).toBeLessThan(created.key.length / 2);

    const list = await stack.request("/v1/admin/keys");
    expect(list.status).toBe(200);
    const text = await list.text();
    expect(text).not.toContain(created.key);
    const listed = JSON.parse(text).data.data as Array<Record<string, unknown>>;
    const row = listed.find((key) => key.id === created.id);
    expect(row).toMatchObject({ id: created.id, name: "key under test", prefix: created.prefix, user_id: created.user_id, last_used_at: null, revoked_at: null });
    expect(row).not.toHaveProperty("key");
    expect(row).not.toHaveProperty("key_hash");

    // No column of the stored row holds the secret; the hash column holds its SHA-256.
    const rows = await stack.api.deps.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM api_keys WHERE id = ${created.id}::uuid`;
    expect(rows).toHaveLength(1);
    const stored = rows[0]!;
    for (const value of Object.values(stored)) expect(String(value)).not.toContain(created.key);
    expect(stored.key_hash).toBe(createHash("sha256").update(created.key).digest("hex"));

    // The new key works (and belongs to a new, non-admin tenant).
    const use = await stack.request("/v1/ai/tasks", { key: created.key });
    expect(use.status).toBe(200);
  });

  it("records last_used_at once the key is used", async () => {
    const created = await createKey("touch me");
    const before = await stack.api.deps.db.apiKey.findUnique({ where: { id: created.id } });
    expect(before?.lastUsedAt).toBeNull();
    const usedFrom = new Date();
    expect((await stack.request("/v1/ai/models", { key: created.key })).status).toBe(200);
    const lastUsed = await eventually(
      async () => (await stack.api.deps.db.apiKey.findUnique({ where: { id: created.id } }))?.lastUsedAt ?? undefined,
      { what: "last_used_at to be recorded" },
    );
    expect(lastUsed.getTime()).toBeGreaterThanOrEqual(usedFrom.getTime() - 1000);
    const listed = (await json(await stack.request("/v1/admin/keys"))).data.data as Array<{ id: string; last_used_at: string | null }>;
    expect(listed.find((key) => key.id === created.id)?.last_used_at).toBe(lastUsed.toISOString());
  });

  it("forbids admin routes to a non-admin key with 403", async () => {
    const created = await createKey("tenant");
    const attempts = [
      stack.request("/v1/admin/keys", { key: created.key }),
      stack.request("/v1/admin/keys", { method: "POST", json: { name: "escalate" }, key: created.key }),
      stack.request(`/v1/admin/keys/${created.id}`, { method: "DELETE", key: created.key }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expectFlexError(await json(res), "permission_denied");
    }
    // None of them acted: no key was created and the tenant's own key still works.
    const keys = await stack.api.deps.db.apiKey.findMany({ where: { name: "escalate" } });
    expect(keys).toEqual([]);
    expect((await stack.request("/v1/ai/tasks", { key: created.key })).status).toBe(200);
  });

  it("stops a revoked key on the very next request", async () => {
    const created = await createKey("to revoke");
    expect((await stack.request("/v1/ai/tasks", { key: created.key })).status).toBe(200);

    const revoke = await stack.request(`/v1/admin/keys/${created.id}`, { method: "DELETE" });
    expect(revoke.status).toBe(200);
    expect((await json(revoke)).data.data).toEqual({ id: created.id, revoked: true });

    const after = await stack.request("/v1/ai/tasks", { key: created.key });
    expect(after.status).toBe(401);
    expectFlexError(await json(after), "invalid_api_key");

    const listed = (await json(await stack.request("/v1/admin/keys"))).data.data as Array<{ id: string; revoked_at: string | null }>;
    expect(listed.find((key) => key.id === created.id)?.revoked_at).toEqual(expect.any(String));
    // Revoking again is harmless.
    expect((await stack.request(`/v1/admin/keys/${created.id}`, { method: "DELETE" })).status).toBe(200);
  });

  it("answers 404 for revoking a key that does not exist, 400 for an id that is not a uuid", async () => {
    const unknown = await stack.request("/v1/admin/keys/2b1f4a52-6a8e-4c1e-9d51-0c8f1e7a3b90", { method: "DELETE" });
    expect(unknown.status).toBe(404);
    expectFlexError(await json(unknown), "key_not_found");

    const malformed = await stack.request("/v1/admin/keys/not-a-uuid", { method: "DELETE" });
    expect(malformed.status).toBe(400);
    const body = await json(malformed);
    expect(body.status).toBe("error");
    expect(body.errors[0].param).toBe("key_id");
  });
});

describe("owner isolation", () => {
  it("hides a tenant's task from another tenant with 404 and shows it to the admin", async () => {
    const [a, b] = await Promise.all([createKey("tenant A"), createKey("tenant B")]);
    const taskA = await stack.submitAsync(REQUEST, a.key);
    const taskB = await stack.submitAsync(REQUEST, b.key);

    // What B gets for A's task is exactly what it gets for a task that does not exist.
    const missing = "0123456789abcdef0123456789abcdef";
    const attempts: [string, RequestInit][] = [
      [`/v1/ai/tasks/${taskA}`, {}],
      [`/v1/ai/tasks/${taskA}/events`, {}],
      [`/v1/ai/tasks/${taskA}/cancel`, { method: "POST" }],
    ];
    for (const [path, init] of attempts) {
      const res = await stack.request(path, { ...init, key: b.key });
      expect(res.status).toBe(404);
      const body = await json(res);
      expectFlexError(body, "task_not_found");
      expect(JSON.stringify(body)).not.toContain(a.user_id);
      const control = await json(await stack.request(path.replace(taskA, missing), { ...init, key: b.key }));
      expect(body.errors[0].message.replace(taskA, missing)).toBe(control.errors[0].message);
    }

    // B's cancel did nothing: A's task is still PENDING and its job still waits in the queue.
    const stored = await stack.api.deps.tasks.findById(taskA);
    expect(stored?.status).toBe("PENDING");
    expect(await stack.api.deps.queues.jobState("llm_gemma_7b_queue", taskA)).toMatchObject({ state: "waiting" });

    // History: each tenant sees only its own tasks; the admin sees both.
    const historyOf = async (key?: string) => {
      const body = await json(await stack.request("/v1/ai/tasks?limit=200", key ? { key } : {}));
      return (body.data.data.tasks as Array<{ task_id: string }>).map((task) => task.task_id);
    };
    expect(await historyOf(b.key)).toEqual([taskB]);
    expect(await historyOf(a.key)).toEqual([taskA]);
    expect(await historyOf()).toEqual(expect.arrayContaining([taskA, taskB]));

    // The admin reads A's task, and A reads its own.
    for (const key of [undefined, a.key]) {
      const res = await stack.request(`/v1/ai/tasks/${taskA}`, key ? { key } : {});
      expect(res.status).toBe(200);
      expect((await json(res)).data.data.task_id).toBe(taskA);
    }

    // A worker then runs A's task to the end: it was never cancelled.
    await stack.startWorker();
    const done = await eventually(async () => {
      const task = await stack.api.deps.tasks.findById(taskA);
      return task?.status === "COMPLETED" ? task : undefined;
    }, { what: "tenant A's task to complete" });
    expect(done.response.length).toBeGreaterThan(0);
    expect(done.ownerId).toBe(a.user_id);
  });
});
