// Issue 16's fields, before any scheduler reads them: `service_tier` in both dialects (accepted, stored
// on the task, answered as the tier used) and `limits.fair_share_weight` of keys and users (set by the
// admin, seen in the limits a request is held to). Every answer here is also checked against its route's
// declared schema by the stack (response-check.ts).
import { eventually, json, readSse } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";
import { sdkClient, sdkError, taskIdOf } from "./openai-sdk-support";

const MODEL = "gemma-7b";

let stack: TestStack;
let client: OpenAI;
beforeAll(async () => {
  stack = await startTestStack({
    models: { providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } }, models: [{ id: MODEL, provider: "fast", concurrency: 8 }] },
  });
  client = sdkClient(stack);
});
afterAll(async () => {
  await stack.close();
});

const messages = [{ role: "user" as const, content: "Hello there" }];

/** The task's tier as stored (`tasks.service_tier`). */
async function storedTier(taskId: string): Promise<string> {
  const rows = await stack.api.deps.db.$queryRaw<{ service_tier: string }[]>`SELECT service_tier FROM tasks WHERE task_id = ${taskId}`;
  expect(rows).toHaveLength(1);
  return rows[0]!.service_tier;
}

async function taskCount(): Promise<number> {
  return stack.api.deps.db.task.count();
}

describe("service_tier in the task dialect", () => {
  it.each([
    [undefined, "default"],
    ["priority", "priority"],
    ["default", "default"],
    ["flex", "flex"],
    ["auto", "default"],
    ["scale", "priority"],
  ])("service_tier %s beside configs: stored and shown as %s (envelope, GET, history)", async (asked, used) => {
    const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages, configs: { model: MODEL, max_tokens: 4 }, ...(asked ? { service_tier: asked } : {}) } });
    expect(res.status).toBe(200);
    const data = (await json(res)).data.data;
    expect(data).toMatchObject({ status: "COMPLETED", service_tier: used });
    expect(await storedTier(data.task_id)).toBe(used);
    expect((await json(await stack.request(`/v1/ai/tasks/${data.task_id}`))).data.data.service_tier).toBe(used);
    const history = (await json(await stack.request(`/v1/ai/tasks?limit=20`))).data.data.tasks as { task_id: string; service_tier: string }[];
    expect(history.find((row) => row.task_id === data.task_id)?.service_tier).toBe(used);
  });

  it("refuses an unknown tier with 400 naming service_tier, and writes nothing", async () => {
    const before = await taskCount();
    for (const tier of ["turbo", 1, null]) {
      const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages, configs: { model: MODEL }, service_tier: tier } });
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.status).toBe("error");
      expect(body.errors[0].param).toBe("service_tier");
    }
    // Inside configs it is not a sampling setting: refused there, naming the field.
    const inside = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages, configs: { model: MODEL, service_tier: "flex" } } });
    expect(inside.status).toBe(400);
    expect((await json(inside)).errors[0].message).toMatch(/service_tier/);
    expect(await taskCount()).toBe(before);
  });

  it("streams the tier in the result envelope", async () => {
    const res = await stack.request("/v1/ai/text_completion?stream=true", { method: "POST", json: { messages, configs: { model: MODEL, max_tokens: 4 }, service_tier: "flex" } });
    const events = await readSse(res);
    const result = events.find((event) => event.event === "result");
    expect(JSON.parse(result!.data).data.data.service_tier).toBe("flex");
  });

  it("native batch items are flex unless their line asks otherwise", async () => {
    const res = await stack.request("/v1/ai/batches", {
      method: "POST",
      json: {
        requests: [
          { custom_id: "plain", messages, configs: { model: MODEL, max_tokens: 4 } },
          { custom_id: "urgent", messages, configs: { model: MODEL, max_tokens: 4 }, service_tier: "priority" },
          { custom_id: "auto", messages, configs: { model: MODEL, max_tokens: 4 }, service_tier: "auto" },
        ],
      },
    });
    expect(res.status).toBe(200);
    const batch = (await json(res)).data.data;
    const ids = batch.task_ids as string[];
    expect(await Promise.all(ids.map(storedTier))).toEqual(["flex", "priority", "default"]);
    const shown = await Promise.all(ids.map(async (id) => (await json(await stack.request(`/v1/ai/tasks/${id}`))).data.data.service_tier));
    expect(shown).toEqual(["flex", "priority", "default"]);
  });

  it("a native batch line with an unknown tier is refused, naming the line's field", async () => {
    const before = await taskCount();
    const res = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [{ messages, configs: { model: MODEL } }, { messages, configs: { model: MODEL }, service_tier: "urgent" }] } });
    expect(res.status).toBe(400);
    expect((await json(res)).errors[0].param).toBe("requests.1.service_tier");
    expect(await taskCount()).toBe(before);
  });

  it("a retried task keeps its tier", async () => {
    const first = (await json(await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages, configs: { model: MODEL, max_tokens: 4 }, service_tier: "flex" } }))).data.data;
    const retried = await stack.request(`/v1/ai/tasks/${first.task_id}/retry`, { method: "POST" });
    expect(retried.status).toBe(201);
    const again = (await json(retried)).data.data;
    expect(await storedTier(again.task_id)).toBe("flex");
  });
});

describe("service_tier through the openai SDK", () => {
  it.each([
    [undefined, "default"],
    ["auto", "default"],
    ["default", "default"],
    ["flex", "flex"],
    ["priority", "priority"],
    ["scale", "priority"],
  ] as const)("chat.completions with service_tier %s answers the tier used, %s, and stores it", async (asked, used) => {
    const { data, response } = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, ...(asked ? { service_tier: asked } : {}) }).withResponse();
    expect(data.service_tier).toBe(used);
    expect(await storedTier(taskIdOf(response))).toBe(used);
  });

  it("every chunk of a stream says the tier", async () => {
    const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, stream: true, stream_options: { include_usage: true }, service_tier: "flex" });
    const tiers: (string | null | undefined)[] = [];
    for await (const chunk of stream) tiers.push(chunk.service_tier);
    expect(tiers.length).toBeGreaterThan(1);
    expect(new Set(tiers)).toEqual(new Set(["flex"]));
  });

  it("legacy completions take it too", async () => {
    const { data, response } = await client.completions.create({ model: MODEL, prompt: "Say hi", max_tokens: 4, service_tier: "priority" } as OpenAI.CompletionCreateParamsNonStreaming).withResponse();
    expect((data as unknown as { service_tier: string }).service_tier).toBe("priority");
    expect(await storedTier(taskIdOf(response))).toBe("priority");
  });

  it("an async chat completion (Prefer: respond-async) is polled with its tier", async () => {
    const res = await stack.request("/v1/chat/completions", { method: "POST", headers: { prefer: "respond-async" }, json: { model: MODEL, messages, max_tokens: 4, service_tier: "flex" } });
    expect(res.status).toBe(202);
    const accepted = await json(res);
    const done = await eventually(async () => {
      const polled = await json(await stack.request(`/v1/chat/completions/${accepted.id}`));
      return polled.object === "chat.completion" ? polled : undefined;
    }, { what: "the completion" });
    expect(done.service_tier).toBe("flex");
  });

  it("refuses an unknown tier with OpenAI's error naming service_tier, and writes nothing", async () => {
    const before = await taskCount();
    const error = await sdkError(() => client.chat.completions.create({ model: MODEL, messages, service_tier: "turbo" as "flex" }));
    expect(error.status).toBe(400);
    expect((error.error as { param?: string }).param).toBe("service_tier");
    expect(await taskCount()).toBe(before);
  });

  it.each([
    ["flex", "flex"],
    ["scale", "priority"],
    ["auto", "default"],
  ] as const)("the Responses API stores service_tier %s as %s on the task and answers it", async (asked, used) => {
    const response = await client.responses.create({ model: MODEL, input: "Hello", max_output_tokens: 16, service_tier: asked });
    expect(response.service_tier).toBe(used);
    expect(await storedTier(response.id.replace(/^resp_/, ""))).toBe(used);
    expect((await client.responses.retrieve(response.id)).service_tier).toBe(used);
  });

  it("OpenAI Batch API lines are flex unless their body asks otherwise", async () => {
    const line = (id: string, tier?: string) =>
      JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: MODEL, messages, max_tokens: 4, ...(tier ? { service_tier: tier } : {}) } });
    const file = await client.files.create({ file: await toFile(Buffer.from([line("plain"), line("urgent", "priority")].join("\n")), "tiers.jsonl"), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const batch = await eventually(async () => {
      const current = await client.batches.retrieve(created.id);
      return current.status === "completed" ? current : undefined;
    }, { what: "the batch completed" });
    const output = (await (await client.files.content(batch.output_file_id!)).text())
      .trim()
      .split("\n")
      .map((text) => JSON.parse(text));
    const tiers = Object.fromEntries(output.map((line) => [line.custom_id, line.response.body.service_tier]));
    expect(tiers).toEqual({ plain: "flex", urgent: "priority" });
    expect(await Promise.all(output.map((line) => storedTier(line.response.request_id)))).toEqual(output.map((line) => tiers[line.custom_id]));
  });
});

describe("fair_share_weight", () => {
  async function me(key: string) {
    return (await json(await stack.request("/v1/users/me", { key }))).data.data.quota.limits;
  }

  it("the admin sets and reads it on a key; the key's requests are held to it", async () => {
    const created = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "weighted", limits: { fair_share_weight: 4 } } });
    expect(created.status).toBe(201);
    const key = (await json(created)).data.data;
    expect(key.limits.fair_share_weight).toBe(4);
    expect((await me(key.key)).key.fair_share_weight).toBe(4);

    const patched = await stack.request(`/v1/admin/keys/${key.id}`, { method: "PATCH", json: { limits: { fair_share_weight: 250 } } });
    expect(patched.status).toBe(200);
    expect((await json(patched)).data.data.limits.fair_share_weight).toBe(250);
    const listed = ((await json(await stack.request("/v1/admin/keys"))).data.data as { id: string; limits: { fair_share_weight: number | null } }[]).find((k) => k.id === key.id)!;
    expect(listed.limits.fair_share_weight).toBe(250);
    await eventually(async () => ((await me(key.key)).key.fair_share_weight === 250 ? true : undefined), { what: "the new weight in force" });

    // Back to inherited: the user's (unset), else 1.
    await stack.request(`/v1/admin/keys/${key.id}`, { method: "PATCH", json: { limits: { fair_share_weight: null } } });
    await eventually(async () => ((await me(key.key)).key.fair_share_weight === 1 ? true : undefined), { what: "the default weight" });
  });

  it("a user's weight is its sessions' and that of its keys that set none; the user's view shows own and in force", async () => {
    const own = (await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "own weight", limits: { fair_share_weight: 7 } } }))).data.data;
    const inheriting = (await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "inherits", user_id: own.user_id } }))).data.data;
    expect(inheriting.limits.fair_share_weight).toBeNull();
    expect((await me(inheriting.key)).key.fair_share_weight).toBe(1);

    const patched = await stack.request(`/v1/admin/users/${own.user_id}`, { method: "PATCH", json: { limits: { fair_share_weight: 3 } } });
    expect(patched.status).toBe(200);
    const user = (await json(patched)).data.data;
    expect(user.limits.fair_share_weight).toBe(3);
    expect(user.effective_limits.fair_share_weight).toBe(3);
    const listed = ((await json(await stack.request("/v1/admin/users"))).data.data as { id: string; limits: { fair_share_weight: number | null } }[]).find((u) => u.id === own.user_id)!;
    expect(listed.limits.fair_share_weight).toBe(3);

    await eventually(async () => ((await me(inheriting.key)).key.fair_share_weight === 3 ? true : undefined), { what: "the user's weight on its inheriting key" });
    const limits = await me(own.key);
    expect([limits.key.fair_share_weight, limits.user.fair_share_weight]).toEqual([7, 3]);
  });

  it.each([0, 1001, 2.5, "2"])("refuses %p with 400 naming limits.fair_share_weight, and changes nothing", async (weight) => {
    const key = (await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "refused", limits: { fair_share_weight: 5 } } }))).data.data;
    for (const [path, method] of [[`/v1/admin/keys/${key.id}`, "PATCH"], [`/v1/admin/users/${key.user_id}`, "PATCH"], ["/v1/admin/keys", "POST"]] as const) {
      const res = await stack.request(path, { method, json: { ...(method === "POST" ? { name: "x" } : {}), limits: { fair_share_weight: weight } } });
      expect(res.status).toBe(400);
      expect((await json(res)).errors[0].param).toBe("limits.fair_share_weight");
    }
    const rows = await stack.api.deps.db.$queryRaw<{ k: number | null; u: number | null }[]>`
      SELECT k.fair_share_weight AS k, u.fair_share_weight AS u FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = ${key.id}::uuid`;
    expect(rows).toEqual([{ k: 5, u: null }]);
  });
});
