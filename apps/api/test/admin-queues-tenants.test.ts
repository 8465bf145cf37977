// Issue 16, visible: `GET /v1/admin/queues` answers each queue's waiting tasks per tenant and tier, with
// the tenants named (key name and prefix, or the user's email) in one query for the whole answer. Real
// Postgres and Redis; no worker serves the models, so every task submitted here stays waiting.
import { adminQueuesSchema } from "@llmq/contract";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { signedInAccount } from "./account-support";

const LLAMA = "llama-3.1-8b-instruct";
const GEMMA = "gemma-7b";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack?.close();
});

/** A key made by the admin (a new user each): its id, secret and prefix. */
async function createKey(name: string): Promise<{ id: string; key: string; prefix: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data;
}

async function submit(key: string, model: string, tier: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await stack.submitAsync({ messages: [{ role: "user", content: `wait ${i}` }], configs: { model, max_tokens: 4 }, service_tier: tier }, key);
  }
}

describe("GET /v1/admin/queues: waiting_by_tenant", () => {
  it("shows each key's and each session user's waiting tasks per tier, named, most first, in one name query", async () => {
    const alpha = await createKey("alpha team");
    const beta = await createKey("beta batch");
    const ann = await signedInAccount(stack, { name: "Ann" });
    await submit(alpha.key, LLAMA, "default", 3);
    await submit(alpha.key, LLAMA, "priority", 1);
    await submit(beta.key, LLAMA, "flex", 2);
    await submit(ann.token, LLAMA, "default", 1);
    await submit(beta.key, GEMMA, "default", 1);

    const users = stack.api.deps.users;
    const lookup = users.tenantNames.bind(users);
    let lookups = 0;
    users.tenantNames = (keyIds, userIds) => {
      lookups += 1;
      return lookup(keyIds, userIds);
    };
    let res: Response;
    try {
      res = await stack.request("/v1/admin/queues");
    } finally {
      users.tenantNames = lookup;
    }
    expect(res.status).toBe(200);
    const text = await res.text();
    const queues = adminQueuesSchema.parse(JSON.parse(text)).data.data.queues;
    const of = (model: string) => queues.find((queue) => queue.model === model)!.waiting_by_tenant;

    expect(of(LLAMA)).toEqual([
      { tenant: alpha.id, tenant_kind: "api_key", name: "alpha team", key_prefix: alpha.prefix, tier: "default", waiting: 3 },
      { tenant: beta.id, tenant_kind: "api_key", name: "beta batch", key_prefix: beta.prefix, tier: "flex", waiting: 2 },
      { tenant: alpha.id, tenant_kind: "api_key", name: "alpha team", key_prefix: alpha.prefix, tier: "priority", waiting: 1 },
      { tenant: `u:${ann.id}`, tenant_kind: "user", name: ann.email, key_prefix: null, tier: "default", waiting: 1 },
    ]);
    expect(of(GEMMA)).toEqual([{ tenant: beta.id, tenant_kind: "api_key", name: "beta batch", key_prefix: beta.prefix, tier: "default", waiting: 1 }]);
    // Every tenant of both queues named by one statement; no key's secret anywhere in the answer.
    expect(lookups).toBe(1);
    for (const secret of [alpha.key, beta.key]) expect(text).not.toContain(secret);
    // The counts agree with the per-tenant rows (waiting = interactive tiers, prioritized = flex).
    expect(queues.find((queue) => queue.model === LLAMA)!.counts).toMatchObject({ waiting: 5, prioritized: 2 });
  });

  it("answers a tenant whose key was deleted with its id and a null name", async () => {
    const gone = await createKey("short lived");
    await submit(gone.key, GEMMA, "flex", 1);
    await stack.api.deps.db.apiKey.delete({ where: { id: gone.id } });
    const res = await stack.request("/v1/admin/queues");
    expect(res.status).toBe(200);
    const gemma = adminQueuesSchema.parse(await json(res)).data.data.queues.find((queue) => queue.model === GEMMA)!;
    expect(gemma.waiting_by_tenant).toContainEqual({ tenant: gone.id, tenant_kind: "api_key", name: null, key_prefix: null, tier: "flex", waiting: 1 });
  });

  it("is admin only: a key's own bearer gets 403 and no tenant list", async () => {
    const key = await createKey("curious");
    const res = await stack.request("/v1/admin/queues", { key: key.key });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain("waiting_by_tenant");
  });
});
