import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Issue 16: a model's tasks are dispatched fairly between tenants (API keys), and by tier inside a tenant.
// The model runs 2 tasks at once against the OpenAI fixture, which takes ~50 ms an answer.

const MODEL = "fair-model";
const QUEUE = "llm_fair_model_queue";

let fixture: OpenAIFixture;
let stack: TestStack;

beforeAll(async () => {
  fixture = await startOpenAIFixture();
  fixture.setBehaviour({ firstTokenDelayMs: 50, tokenDelayMs: 0 });
  stack = await startTestStack({
    models: {
      providers: { upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 } },
      models: [{ id: MODEL, provider: "upstream", upstream_model: "fixture-model", concurrency: 2 }],
    },
    // No submission rate limit: key A submits 5,000 tasks.
    env: { RATE_LIMIT_PER_MINUTE: "0" },
    worker: false,
  });
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

async function newKey(name: string): Promise<string> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data.key;
}

const body = (content: string) => ({ messages: [{ role: "user", content }], configs: { model: MODEL, max_tokens: 2 } });

/** Submits `count` tasks as `key`, 50 at a time; resolves to their ids in submission order. */
async function flood(key: string, count: number, label: string): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < count) {
        const index = next++;
        ids[index] = await stack.submitAsync(body(`${label} ${index}`), key);
      }
    }),
  );
  return ids;
}

/** Start times of the tasks that started (ms), by id. */
async function startedAt(ids: readonly string[]): Promise<Map<string, number>> {
  const rows = await stack.api.deps.tasks.findByIds(ids);
  return new Map(rows.filter((row) => row.startedAt).map((row) => [row.id, row.startedAt!.getTime()]));
}

describe("fair dispatch between tenants", () => {
  it("key B's single task, queued behind key A's 5,000, starts before A's tenth next task starts", async () => {
    const [keyA, keyB] = [await newKey("flood-a"), await newKey("single-b")];
    const floodIds = await flood(keyA, 5_000, "flood");
    expect((await stack.api.deps.queues.counts(QUEUE)).waiting).toBe(5_000);

    await stack.startWorker();
    // A's flood is being served when B arrives.
    await eventually(async () => ((await startedAt(floodIds.slice(0, 50))).size >= 5 ? true : undefined), { what: "A's first tasks to start" });
    const submittedAt = Date.now();
    const single = await stack.submitAsync(body("the single task of key B"), keyB);
    const waitingBehind = (await stack.api.deps.queues.runQueue(QUEUE).counts()).waitingByTenant;

    // A's tasks that start after B's submit, in start order, until ten have.
    const aAfter = await eventually(
      async () => {
        const started = [...(await startedAt(floodIds)).values()].filter((at) => at >= submittedAt).sort((a, b) => a - b);
        return started.length >= 10 ? started : undefined;
      },
      { what: "ten of A's tasks to start after B's submit" },
    );
    const bStarted = (await startedAt([single])).get(single);
    process.stdout.write(
      `fairness: B submitted behind ${JSON.stringify(waitingBehind)}; B started ${bStarted === undefined ? "not yet" : `${bStarted - submittedAt} ms`} after its submit; A's 10th next start ${aAfter[9]! - submittedAt} ms after\n`,
    );
    expect(bStarted).toBeDefined();
    expect(bStarted!).toBeLessThan(aAfter[9]!);
    // B's request reached the upstream among the first of those after its submit (the fixture's log, in arrival order).
    const order = fixture.requests.map((request) => JSON.stringify(request.body ?? ""));
    const bIndex = order.findIndex((text) => text.includes("the single task of key B"));
    expect(bIndex).toBeGreaterThan(-1);

    // Drain no further: the flood's rest is cancelled (withdrawn from the run queue).
    await stack.api.deps.db.$executeRaw`UPDATE tasks SET status = 'CANCELLED', completed_at = now() WHERE status = 'PENDING' AND model = ${MODEL}`;
    for (const id of floodIds) await stack.api.deps.queues.removeWaiting(QUEUE, id);
    await eventually(async () => ((await stack.api.deps.queues.counts(QUEUE)).active === 0 ? true : undefined), { what: "the run queue to drain" });
  }, 180_000);

  it("inside a tenant: a priority task behind 200 default ones starts in the next dispatch round; flex tasks finish when only they remain", async () => {
    // The tiers come from the requests' `service_tier` (stored on the task, read by the engine's entry).
    const key = await newKey("tiers");
    await stack.api.deps.queues.pause(QUEUE);
    const submit = async (content: string, tier: string) => ({ id: await stack.submitAsync({ ...body(content), service_tier: tier }, key) });
    // One at a time, in this order: the priority task is the last enqueued.
    const flex: { id: string }[] = [];
    for (let i = 0; i < 5; i++) flex.push(await submit(`flex ${i}`, "flex"));
    const defaults: { id: string }[] = [];
    for (let i = 0; i < 200; i++) defaults.push(await submit(`default ${i}`, "default"));
    const urgent = await submit("the priority task", "priority");
    const tiers = await stack.api.deps.db.$queryRaw<{ service_tier: string; n: number }[]>`
      SELECT service_tier, count(*)::int AS n FROM tasks WHERE api_key_id IN (SELECT id FROM api_keys WHERE name = 'tiers') GROUP BY 1 ORDER BY 1`;
    expect(tiers).toEqual([
      { service_tier: "default", n: 200 },
      { service_tier: "flex", n: 5 },
      { service_tier: "priority", n: 1 },
    ]);
    await stack.api.deps.queues.resume(QUEUE);

    const all = [...flex, ...defaults, urgent].map((task) => task.id);
    await eventually(async () => ((await startedAt(all)).size === all.length ? true : undefined), { what: "every task to start", timeoutMs: 120_000 });
    const starts = await startedAt(all);
    const order = [...starts].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    // The loop leases 2 at a time (concurrency 2): the priority task is among the first two.
    expect(order.indexOf(urgent.id)).toBeLessThan(2);
    // Flex tasks are passed by newer default work of the same tenant (within their aging), and still finish:
    // they go last. Two tasks leased in one dispatch start in either order, so the last default one may
    // start just after the first flex one, never more.
    const flexIds = new Set(flex.map((task) => task.id));
    const firstFlex = order.findIndex((id) => flexIds.has(id));
    expect(order.slice(firstFlex).filter((id) => !flexIds.has(id)).length).toBeLessThanOrEqual(1);
    expect(firstFlex).toBeGreaterThanOrEqual(order.length - 6);
    await eventually(
      async () => ((await stack.api.deps.tasks.findByIds(flex.map((task) => task.id))).every((task) => task.status === "COMPLETED") ? true : undefined),
      { what: "the flex tasks to complete" },
    );
  }, 180_000);

  it("weights 3 and 1: two keys flooding the model get 3:1 shares of its starts, within 10 %", async () => {
    const heavy = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "weight-3", limits: { fair_share_weight: 3 } } });
    const light = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "weight-1", limits: { fair_share_weight: 1 } } });
    expect([heavy.status, light.status]).toEqual([201, 201]);
    const [heavyKey, lightKey] = [(await json(heavy)).data.data.key as string, (await json(light)).data.data.key as string];
    // Both lines full before anything runs: 400 each, more than either gets of the 200 starts counted.
    await stack.api.deps.queues.pause(QUEUE);
    const [heavyIds, lightIds] = await Promise.all([flood(heavyKey, 400, "heavy"), flood(lightKey, 400, "light")]);
    await stack.api.deps.queues.resume(QUEUE);
    const all = [...heavyIds, ...lightIds];
    const first = await eventually(
      async () => {
        const started = [...(await startedAt(all))].sort((a, b) => a[1] - b[1]);
        return started.length >= 200 ? started.slice(0, 200) : undefined;
      },
      { what: "200 of the two keys' tasks to start", timeoutMs: 120_000 },
    );
    const heavySet = new Set(heavyIds);
    const heavyStarts = first.filter(([id]) => heavySet.has(id)).length;
    process.stdout.write(`weights 3:1: of the first 200 starts, ${heavyStarts} of the weight-3 key, ${200 - heavyStarts} of the weight-1 key\n`);
    expect(Math.abs(heavyStarts / 200 - 0.75)).toBeLessThanOrEqual(0.075);

    await stack.api.deps.db.$executeRaw`UPDATE tasks SET status = 'CANCELLED', completed_at = now() WHERE status = 'PENDING' AND model = ${MODEL}`;
    for (const id of all) await stack.api.deps.queues.removeWaiting(QUEUE, id);
    await eventually(async () => ((await stack.api.deps.queues.counts(QUEUE)).active === 0 ? true : undefined), { what: "the run queue to drain" });
  }, 180_000);
});
