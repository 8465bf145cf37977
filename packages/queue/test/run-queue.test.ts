import { testRedisUrl } from "@llmq/testkit";
import { type RedisConnection, type RunQueueEntry, type ServiceTier, closeRedis, createRedis } from "../src";
import { entries, testQueue } from "./run-queue-helpers";

/**
 * The fair run queue at script level (issue 16, part 1), against real Redis. Time is the queue's test
 * clock (passed to every script), so aging and lease expiry need no waiting.
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

/** Every key under a queue's base (named without it) with its content, to compare two queues' states. */
async function dumpQueue(base: string): Promise<Record<string, unknown>> {
  const keys = await redis.keys(`${base.replace(/[{}[\]*?]/g, "\\$&")}*`);
  const out: Record<string, unknown> = {};
  for (const key of keys.sort()) {
    const type = await redis.type(key);
    const name = key.slice(base.length);
    if (type === "hash") out[name] = await redis.hgetall(key);
    else if (type === "zset") out[name] = await redis.zrange(key, "0", "-1", "WITHSCORES");
    else if (type === "list") out[name] = await redis.lrange(key, 0, -1);
    else out[name] = await redis.get(key);
  }
  return out;
}

describe("fairness between tenants", () => {
  test("A enqueues 5,000, then B 1: B's task is dispatched at the next pick, before A's tenth next", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("A", 5_000));
    // A is served for a while first, so its counter is well above zero when B arrives.
    for (let i = 0; i < 7; i++) expect((await queue.dispatch("w1", 3, 30_000)).tasks.every((t) => t.tenant === "A")).toBe(true);
    const [b] = entries("B", 1);
    await queue.enqueueMany([b!]);
    const order: string[] = [];
    for (let i = 0; i < 10; i++) order.push(...(await queue.dispatch("w1", 1, 30_000)).tasks.map((t) => t.id));
    expect(order.indexOf(b!.id)).toBe(0);
    expect(order.slice(1).every((id) => id.startsWith("A-"))).toBe(true);
  });

  test("a newcomer is dispatched at the next pick even when it arrives mid-dispatch of a full batch", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("big", 300));
    await queue.enqueueMany(entries("small", 1));
    const { tasks } = await queue.dispatch("w1", 10, 30_000);
    expect(tasks[0]!.tenant).toBe("small");
  });

  test("weights 3:1 give 3:1 shares of the dispatches, within 5 %", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany([...entries("heavy", 2_000, { weight: 3 }), ...entries("light", 2_000, { weight: 1 })]);
    const served: Record<string, number> = { heavy: 0, light: 0 };
    for (let i = 0; i < 100; i++) for (const t of (await queue.dispatch("w1", 10, 30_000)).tasks) served[t.tenant]!++;
    const share = served.heavy! / (served.heavy! + served.light!);
    expect(served.heavy! + served.light!).toBe(1_000);
    expect(Math.abs(share - 0.75)).toBeLessThan(0.05);
  });

  test("an entry without a weight keeps its tenant's weight (a re-enqueue that does not know it), else 1", async () => {
    const { queue } = testQueue(redis);
    const unweighted = (tenant: string, n: number) => entries(tenant, n).map(({ weight: _weight, ...entry }) => entry);
    await queue.enqueueMany([...entries("heavy", 1, { weight: 3 }), ...unweighted("heavy", 1_999), ...unweighted("light", 2_000)]);
    expect(await redis.hget(queue.keys.weights, "w:heavy")).toBe("3");
    expect(await redis.hget(queue.keys.weights, "w:light")).toBe("1");
    const served: Record<string, number> = { heavy: 0, light: 0 };
    for (let i = 0; i < 100; i++) for (const t of (await queue.dispatch("w1", 10, 30_000)).tasks) served[t.tenant]!++;
    expect(Math.abs(served.heavy! / (served.heavy! + served.light!) - 0.75)).toBeLessThan(0.05);
  });

  test("shares are in tokens: a tenant of 300-token tasks gets a third of the dispatches of one of 100-token tasks", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany([...entries("long", 500, { est: 300 }), ...entries("short", 1_000, { est: 100 })]);
    const served: Record<string, number> = { long: 0, short: 0 };
    for (let i = 0; i < 40; i++) for (const t of (await queue.dispatch("w1", 10, 30_000)).tasks) served[t.tenant]!++;
    expect(Math.abs(served.short! / (served.long! + served.short!) - 0.75)).toBeLessThan(0.05);
  });

  test("idle time banks no credit: a tenant back after idling is lifted to the lowest active counter", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("busy", 1));
    await queue.enqueueMany(entries("idle", 1));
    for (const t of (await queue.dispatch("w1", 2, 30_000)).tasks) expect(t).toBeTruthy();
    // busy works through 200 tasks while idle has nothing waiting.
    await queue.enqueueMany(entries("busy", 400));
    for (let i = 0; i < 20; i++) await queue.dispatch("w1", 10, 30_000);
    await queue.enqueueMany(entries("idle", 50));
    const picked: string[] = [];
    for (let i = 0; i < 4; i++) picked.push(...(await queue.dispatch("w1", 10, 30_000)).tasks.map((t) => t.tenant));
    // Alternating from the lift on (one task of credit at most), not 50 of idle's in a row.
    const idle = picked.filter((t) => t === "idle").length;
    expect(idle).toBeGreaterThanOrEqual(20);
    expect(idle).toBeLessThanOrEqual(21);
    expect(picked.slice(0, 4).filter((t) => t === "idle").length).toBe(2);
  });

  test("with no tenant active, a newcomer starts at the last picked counter, not at zero", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("old", 100));
    for (let i = 0; i < 10; i++) await queue.dispatch("w1", 10, 30_000);
    expect(await redis.zcard(queue.keys.tenants)).toBe(0);
    await queue.enqueueMany(entries("new", 50));
    await queue.enqueueMany(entries("old", 50));
    const picked = (await queue.dispatch("w1", 10, 30_000)).tasks.map((t) => t.tenant);
    expect(picked.filter((t) => t === "old").length).toBeGreaterThanOrEqual(4);
  });

  test("settle corrects the counter by the real usage: a tenant that used less than estimated is served more", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany([...entries("frugal", 200), ...entries("plain", 200)]);
    const served: Record<string, number> = { frugal: 0, plain: 0 };
    for (let i = 0; i < 100; i++) {
      const { token, tasks } = await queue.dispatch("w1", 1, 30_000);
      const task = tasks[0]!;
      served[task.tenant]!++;
      // frugal's tasks use 20 of their 100 estimated tokens; plain's use 100.
      expect(await queue.settle(task.id, token, task.tenant === "frugal" ? 20 : 100)).toBe(true);
    }
    // Equal token shares: frugal gets ~5 dispatches for each of plain's.
    expect(served.frugal! / 100).toBeGreaterThan(0.8);
  });
});

describe("tiers inside a tenant", () => {
  test("a priority task behind 200 default tasks of the same tenant goes next", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("A", 200));
    clock.now += 5_000;
    const [urgent] = entries("A", 1, { tier: "priority" });
    await queue.enqueueMany([urgent!]);
    const { tasks } = await queue.dispatch("w1", 1, 30_000);
    expect(tasks.map((t) => [t.id, t.tier])).toEqual([[urgent!.id, "priority"]]);
  });

  test("tiers never cross tenants: another tenant's priority task does not pass this tenant's turn", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("A", 10));
    await queue.enqueueMany(entries("B", 10, { tier: "priority" }));
    const tenants = (await queue.dispatch("w1", 10, 30_000)).tasks.map((t) => t.tenant);
    expect(tenants.filter((t) => t === "A")).toHaveLength(5);
  });

  test("flex is served when alone", async () => {
    const { queue } = testQueue(redis);
    const flex = entries("A", 3, { tier: "flex" });
    await queue.enqueueMany(flex);
    const { tasks } = await queue.dispatch("w1", 5, 30_000);
    expect(tasks.map((t) => t.id)).toEqual(flex.map((e) => e.id));
  });

  test("flex is passed by newer default work only within the aging window (600 s - 60 s)", async () => {
    const { queue, clock } = testQueue(redis);
    const [flex] = entries("A", 1, { tier: "flex" });
    await queue.enqueueMany([flex!]);
    clock.now += 539_000;
    const [younger] = entries("A", 1);
    await queue.enqueueMany([younger!]);
    clock.now += 2_000; // 541 s after the flex task: past its window
    const [late] = entries("A", 1);
    await queue.enqueueMany([late!]);
    const { tasks } = await queue.dispatch("w1", 3, 30_000);
    expect(tasks.map((t) => t.id)).toEqual([younger!.id, flex!.id, late!.id]);
  });
});

describe("leases", () => {
  test("enqueue is idempotent per task id, within a call and across calls", async () => {
    const { queue } = testQueue(redis);
    const batch = entries("A", 3);
    expect(await queue.enqueueMany([...batch, batch[0]!])).toBe(3);
    expect(await queue.enqueueMany(batch)).toBe(0);
    const { token, tasks } = await queue.dispatch("w1", 1, 30_000);
    expect(await queue.enqueueMany([batch[0]!])).toBe(0); // leased: still present
    expect((await queue.counts()).waiting).toBe(2);
    expect(await queue.settle(tasks[0]!.id, token, 10)).toBe(true);
  });

  test("one call leaves Redis as entry-by-entry calls do: tenants, weights changed mid-call, tiers, batch items, deadlines, repeats", async () => {
    const entry = (id: string, tenant: string, weight: number | undefined, tier: ServiceTier, extra: Partial<RunQueueEntry> = {}): RunQueueEntry => ({
      id,
      tenant,
      ...(weight === undefined ? {} : { weight }),
      tier,
      estimatedTokens: 50 + id.length,
      queueDeadline: null,
      requestCopy: null,
      ...extra,
    });
    const before = [entry("c0", "C", 2, "default"), entry("x0", "A", 1, "flex")];
    const call = [
      entry("a1", "A", 1, "default"),
      entry("b1", "B", undefined, "flex", { batch: true, queueDeadline: 1_800_000_060_000 }),
      entry("a2", "A", 3, "priority", { requestCopy: '{"m":1}' }),
      entry("c1", "C", 5, "flex", { batch: true }),
      entry("a1", "A", 1, "default"),
      entry("x0", "A", 1, "flex"),
      entry("b2", "B", 4, "default", { queueDeadline: 1_800_000_090_000 }),
      entry("a3", "A", undefined, "default", { batch: true }),
      entry("a4", "A", 1, "default"),
    ];
    const one = testQueue(redis);
    const many = testQueue(redis);
    for (const { queue } of [one, many]) expect(await queue.enqueueMany(before)).toBe(2);
    let added = 0;
    for (const e of call) added += await one.queue.enqueueMany([e]);
    expect(added).toBe(7);
    expect(await many.queue.enqueueMany(call)).toBe(7);
    const [a, b] = await Promise.all([dumpQueue(one.queue.keys.base), dumpQueue(many.queue.keys.base)]);
    expect(Object.keys(a)).toContain("w");
    expect(b).toEqual(a);
  });

  test("settle with a wrong or stale token changes nothing", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("A", 1));
    const first = await queue.dispatch("w1", 1, 1_000);
    const id = first.tasks[0]!.id;
    expect(await queue.settle(id, "w1:999", 10)).toBe(false);
    expect(await queue.settle(id, "other", 10)).toBe(false);
    expect((await queue.state(id))?.state).toBe("leased");
    clock.now += 2_000;
    const second = await queue.dispatch("w2", 1, 30_000); // the expired lease is re-queued and taken again
    expect(second.tasks.map((t) => t.id)).toEqual([id]);
    const tenantsBefore = await redis.zrange(queue.keys.tenants, "0", "-1", "WITHSCORES");
    const weightsBefore = await redis.hgetall(queue.keys.weights);
    expect(await queue.settle(id, first.token, 5_000)).toBe(false); // the zombie
    expect(await queue.release(id, first.token, { keepPlace: true })).toBe(false);
    expect(await queue.renew([id], first.token, 30_000)).toBe(0);
    expect(await redis.zrange(queue.keys.tenants, "0", "-1", "WITHSCORES")).toEqual(tenantsBefore);
    expect(await redis.hgetall(queue.keys.weights)).toEqual(weightsBefore);
    expect(await queue.state(id)).toMatchObject({ state: "leased", stalls: 1 });
    expect(await queue.settle(id, second.token, 10)).toBe(true);
    expect(await queue.state(id)).toBeNull();
    expect(await queue.counts()).toMatchObject({ waiting: 0, leased: 0, dead: 0 });
  });

  test("expired leases come back with their original place, and renewed ones do not", async () => {
    const { queue, clock } = testQueue(redis);
    const line = entries("A", 6);
    await queue.enqueueMany(line);
    const { token, tasks } = await queue.dispatch("w1", 2, 10_000); // the first two
    clock.now += 5_000;
    expect(await queue.renew([tasks[1]!.id], token, 10_000)).toBe(1);
    clock.now += 6_000; // tasks[0]'s lease is over, tasks[1]'s runs to +15 s
    expect(await queue.requeueExpired()).toEqual({ requeued: 1, dead: 0 });
    expect(await queue.state(tasks[0]!.id)).toMatchObject({ state: "waiting", stalls: 1 });
    expect(await queue.place(tasks[0]!.id)).toEqual({ ahead: 0, leased: 1 });
    const next = await queue.dispatch("w1", 2, 10_000);
    expect(next.tasks.map((t) => t.id)).toEqual([line[0]!.id, line[2]!.id]);
  });

  test("a task whose lease expires more than 3 times goes to the dead list", async () => {
    const { queue, clock } = testQueue(redis);
    const [task] = entries("A", 1);
    await queue.enqueueMany([task!]);
    for (let i = 0; i < 4; i++) {
      expect((await queue.dispatch("w1", 1, 1_000)).tasks).toHaveLength(1);
      clock.now += 1_001;
    }
    expect(await queue.requeueExpired()).toEqual({ requeued: 0, dead: 1 });
    expect(await queue.state(task!.id)).toMatchObject({ state: "dead", stalls: 4 });
    expect((await queue.dispatch("w1", 1, 1_000)).tasks).toHaveLength(0);
    expect(await queue.counts()).toMatchObject({ waiting: 0, leased: 0, dead: 1 });
    expect(await queue.takeDead()).toEqual([task!.id]);
    expect(await queue.state(task!.id)).toBeNull();
    expect((await queue.counts()).dead).toBe(0);
  });

  test("release puts the task back uncharged: with its place, or at the back of its tier", async () => {
    const { queue, clock } = testQueue(redis);
    const line = entries("A", 3);
    await queue.enqueueMany(line);
    const counterOf = async (tenant: string) => Number(await redis.zscore(queue.keys.tenants, tenant));
    const before = await counterOf("A");
    const first = await queue.dispatch("w1", 1, 30_000);
    expect(first.tasks[0]!.id).toBe(line[0]!.id);
    expect(await queue.release(line[0]!.id, first.token, { keepPlace: true })).toBe(true);
    expect(await counterOf("A")).toBeCloseTo(before, 6);
    expect(await queue.place(line[0]!.id)).toMatchObject({ ahead: 0 });
    clock.now += 1_000;
    const again = await queue.dispatch("w1", 1, 30_000);
    expect(again.tasks[0]!.id).toBe(line[0]!.id);
    expect(await queue.release(line[0]!.id, again.token, { keepPlace: false })).toBe(true);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(...(await queue.dispatch("w1", 1, 30_000)).tasks.map((t) => t.id));
    expect(ids).toEqual([line[1]!.id, line[2]!.id, line[0]!.id]);
  });

  test("room caps the model's leased tasks (the capacity hook)", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("A", 10));
    expect((await queue.dispatch("w1", 5, 30_000, 3)).tasks).toHaveLength(3);
    expect((await queue.dispatch("w2", 5, 30_000, 3)).tasks).toHaveLength(0);
    expect((await queue.dispatch("w2", 5, 30_000, 4)).tasks).toHaveLength(1);
  });

  test("dispatch hands back the request copy and the queue deadline; copies over 16 KiB are refused", async () => {
    const { queue } = testQueue(redis);
    const [entry] = entries("A", 1);
    await queue.enqueueMany([{ ...entry!, requestCopy: '{"messages":[]}', queueDeadline: 1_900_000_000_000 }]);
    const { tasks } = await queue.dispatch("w1", 1, 30_000);
    expect(tasks[0]).toMatchObject({ id: entry!.id, requestCopy: '{"messages":[]}', queueDeadline: 1_900_000_000_000, tier: "default" });
    await expect(queue.enqueueMany([{ ...entry!, id: "big", requestCopy: "x".repeat(16 * 1024 + 1) }])).rejects.toThrow(/over 16384 bytes/);
  });
});

describe("withdraw, state, counts, place", () => {
  test("withdraw takes a waiting task out; a leased one is left to its holder", async () => {
    const { queue } = testQueue(redis);
    const line = entries("A", 3);
    await queue.enqueueMany(line);
    const { tasks } = await queue.dispatch("w1", 1, 30_000);
    expect(await queue.withdraw(tasks[0]!.id)).toBe("leased");
    expect(await queue.withdraw(line[2]!.id)).toBe("waiting");
    expect(await queue.withdraw(line[2]!.id)).toBe("none");
    expect(await queue.state(line[2]!.id)).toBeNull();
    expect(await queue.counts()).toEqual({ waiting: 1, leased: 1, delayed: 0, dead: 0, batchWaiting: 0, waitingByTenant: { A: { default: 1 } } });
    expect(await queue.withdraw(line[1]!.id)).toBe("waiting");
    expect(await redis.zcard(queue.keys.tenants)).toBe(0); // no waiting work: A is inactive
    expect((await queue.dispatch("w1", 5, 30_000)).tasks).toHaveLength(0);
  });

  test("counts by tenant and tier, and place estimates by weight", async () => {
    const { queue } = testQueue(redis);
    const a = entries("A", 10, { weight: 1 });
    await queue.enqueueMany([...a, ...entries("A", 2, { tier: "flex" }), ...entries("B", 30, { weight: 2 })]);
    expect(await queue.counts()).toEqual({
      waiting: 42,
      leased: 0,
      delayed: 0,
      dead: 0,
      batchWaiting: 0,
      waitingByTenant: { A: { default: 10, flex: 2 }, B: { default: 30 } },
    });
    // A's 5th task: 4 of A's ahead, and B (weight 2) takes two dispatches for each of A's.
    expect(await queue.place(a[4]!.id)).toEqual({ ahead: 12, leased: 0 });
    expect(await queue.place(a[0]!.id)).toEqual({ ahead: 0, leased: 0 });
  });
});

describe("backpressure's count (issue 16, depth)", () => {
  test("batch items are counted apart whatever their tier; interactive flex tasks are not", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany([...entries("A", 3, { tier: "flex" }), ...entries("B", 2)]);
    await queue.enqueueMany([...entries("A", 4, { tier: "flex" }), ...entries("A", 1, { tier: "priority" })].map((e) => ({ ...e, batch: true })));
    expect(await queue.counts()).toMatchObject({ waiting: 10, batchWaiting: 5 });
    // Leased batch items leave the count, and come back with a release.
    const { token, tasks } = await queue.dispatch("w", 10, 30_000);
    expect(await queue.counts()).toMatchObject({ waiting: 0, batchWaiting: 0 });
    const batchItem = tasks.find((t) => t.tier === "priority")!;
    await queue.release(batchItem.id, token, { keepPlace: true });
    expect(await queue.counts()).toMatchObject({ waiting: 1, batchWaiting: 1 });
    expect(await queue.withdraw(batchItem.id)).toBe("waiting");
    expect(await queue.counts()).toMatchObject({ waiting: 0, batchWaiting: 0 });
  });
});

describe("the wake marker on freed capacity (issue 16, depth)", () => {
  /** A loop blocked on the marker: resolves to true when woken, false when its `seconds` ran out. */
  async function blockedOnMarker(marker: string, seconds: number): Promise<{ woken: Promise<boolean>; close: () => Promise<void> }> {
    const blocking = createRedis(testRedisUrl(), { blocking: true });
    const woken = blocking.bzpopmin(marker, seconds).then((popped) => popped !== null);
    return { woken, close: () => closeRedis(blocking) };
  }

  test("a settle that frees a lease while tasks wait wakes a loop blocked on the marker; one with nothing waiting does not set it", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("A", 2));
    // The model's room is one task: the second waits for the first's settle.
    const { token, tasks } = await queue.dispatch("w", 1, 30_000, 1);
    expect(tasks).toHaveLength(1);
    await redis.del(queue.keys.marker); // the dispatch's own wake, already taken by some loop
    const loop = await blockedOnMarker(queue.keys.marker, 3);
    try {
      expect(await queue.settle(tasks[0]!.id, token, 50)).toBe(true);
      expect(await loop.woken).toBe(true);
    } finally {
      await loop.close();
    }
    const second = await queue.dispatch("w", 1, 30_000, 1);
    expect(second.tasks).toHaveLength(1);
    await redis.del(queue.keys.marker);
    expect(await queue.settle(second.tasks[0]!.id, second.token, 50)).toBe(true);
    expect(await redis.zcard(queue.keys.marker)).toBe(0);
  });

  test("a defer (a retry's backoff) that frees a lease while tasks wait sets the marker", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("A", 2));
    const { token, tasks } = await queue.dispatch("w", 1, 30_000, 1);
    await redis.del(queue.keys.marker);
    expect(await queue.defer(tasks[0]!.id, token, clock.now + 60_000, { spendTry: true })).toBe(true);
    expect(await redis.zcard(queue.keys.marker)).toBe(1);
  });
});
