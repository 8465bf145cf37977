import { testRedisUrl } from "@llmq/testkit";
import { type RedisConnection, type RunQueue, type RunQueueEntry, type UpstreamParams, closeRedis, createRedis } from "../src";
import { twoQueues } from "./borrow-helpers";
import { entries } from "./run-queue-helpers";
import { dumpQueue, random } from "./upstreams-helpers";

/**
 * Fallbacks in the run queue (issue 16, borrow), at script level against real Redis: BORROW on the
 * fallback model's queue (only while it has nothing waiting, within its upstreams' room), its settle,
 * release, renewal and expiry; the model's own lease for a borrow (its fair order, none of its upstream
 * keys touched); the expiry rescue's deadline index; and a worker dying between the two steps. Time is
 * the queues' shared test clock; nothing sleeps.
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

const LEASE = 30_000;
/** Model A's two upstreams, and its fallback B's. */
const A_UPS: UpstreamParams[] = [
  { name: "a1", maxConcurrency: 4 },
  { name: "a2", maxConcurrency: 4 },
];
const B_UP: UpstreamParams = { name: "b1", maxConcurrency: 2, requestsPerMinute: 100, tokensPerMinute: 1_000 };

/** Pauses every upstream of A (a 429 with Retry-After 60 s on each): its dispatch answers `unavailable`. */
async function pauseAll(queue: RunQueue, ups: readonly UpstreamParams[] = A_UPS): Promise<void> {
  for (const up of ups) await queue.upstreams.report(up, { kind: "rate_limited", retryAfterMs: 60_000 });
}

function granted<T extends { status: string }>(answer: T): Extract<T, { status: "granted" }> {
  expect(answer.status).toBe("granted");
  return answer as Extract<T, { status: "granted" }>;
}

function leased<T extends { status: string }>(answer: T): Extract<T, { status: "leased" }> {
  expect(answer.status).toBe("leased");
  return answer as Extract<T, { status: "leased" }>;
}

describe("BORROW on the fallback's run queue", () => {
  test("refused while the fallback has tasks waiting, interactive or batch, and nothing changes then", async () => {
    const { b } = twoQueues(redis);
    await b.enqueueMany(entries("own", 1));
    const before = await dumpQueue(redis, b);
    expect(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" })).toEqual({ status: "busy" });
    expect(await dumpQueue(redis, b)).toEqual(before);
    // Its only waiting task leased: it lends.
    const own = await b.dispatch("wb", 1, LEASE, undefined, [B_UP]);
    granted(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" }));
    // A batch item waiting counts too.
    await b.enqueueMany(entries("batch", 1).map((e) => ({ ...e, tier: "flex" as const, batch: true })));
    expect(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" })).toEqual({ status: "busy" });
    expect(own.tasks).toHaveLength(1);
  });

  test("granted when the fallback has nothing waiting, within its max_concurrency; its own dispatch then finds the slots taken", async () => {
    const { b } = twoQueues(redis);
    const first = granted(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" }));
    expect(first).toEqual({ status: "granted", holder: expect.stringMatching(/^b:\d+$/), token: expect.any(String), upstream: "b1", leaseUntil: expect.any(Number) });
    granted(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" }));
    // max_concurrency 2: a third borrow is refused with the fallback's own reason.
    expect(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" })).toEqual({
      status: "blocked",
      blocked: { reason: "capacity", wakeAt: null, upstreams: { b1: "concurrency" } },
    });
    const [snap] = await b.upstreams.snapshot([B_UP]);
    expect(snap).toMatchObject({ inFlight: 2, requestsMinute: 2, tokensMinute: 200 });
    // B's own task arrives: its dispatch is held back by the borrowed slots, as by its own.
    await b.enqueueMany(entries("own", 1));
    const d = await b.dispatch("wb", 1, LEASE, undefined, [B_UP]);
    expect(d.tasks).toHaveLength(0);
    expect(d.blocked).toEqual({ reason: "capacity", wakeAt: null, upstreams: { b1: "concurrency" } });
    // A borrow's end frees its slot for B's own task.
    expect(await b.borrows.settle(first.holder, first.token, 80)).toBe(true);
    expect((await b.dispatch("wb", 1, LEASE, undefined, [B_UP])).tasks).toHaveLength(1);
  });

  test("within the fallback's tokens per minute; a paused or open fallback lends nothing; excluded upstreams are skipped", async () => {
    const { b, clock } = twoQueues(redis);
    granted(await b.borrows.borrow("w", 700, LEASE, [B_UP], { origin: "model-a" }));
    const refused = await b.borrows.borrow("w", 400, LEASE, [B_UP], { origin: "model-a" });
    expect(refused).toEqual({ status: "blocked", blocked: { reason: "capacity", wakeAt: expect.any(Number), upstreams: { b1: "tokens" } } });
    const other: UpstreamParams = { name: "b2" };
    // b1 excluded (it just failed the request): b2.
    expect(granted(await b.borrows.borrow("w", 100, LEASE, [B_UP, other], { origin: "model-a", exclude: ["b1"] })).upstream).toBe("b2");
    await b.upstreams.report(other, { kind: "rate_limited", retryAfterMs: 5_000 });
    expect(await b.borrows.borrow("w", 100, LEASE, [other], { origin: "model-a" })).toEqual({
      status: "blocked",
      blocked: { reason: "unavailable", wakeAt: clock.now + 5_000, upstreams: { b2: "paused" } },
    });
    await b.pause();
    expect(await b.borrows.borrow("w", 100, LEASE, [B_UP], { origin: "model-a" })).toEqual({ status: "paused" });
  });

  test("settle corrects the fallback's tokens to the real usage; release refunds them; the request stays counted", async () => {
    const { b } = twoQueues(redis);
    const one = granted(await b.borrows.borrow("w", 600, LEASE, [B_UP], { origin: "model-a" }));
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 1, tokensMinute: 600, requestsMinute: 1 });
    expect(await b.borrows.settle(one.holder, one.token, 250)).toBe(true);
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 0, tokensMinute: 250, requestsMinute: 1 });
    // A second settle, or one with a wrong token, changes nothing.
    const two = granted(await b.borrows.borrow("w", 300, LEASE, [B_UP], { origin: "model-a" }));
    const before = await dumpQueue(redis, b);
    expect(await b.borrows.settle(one.holder, one.token, 999)).toBe(false);
    expect(await b.borrows.settle(two.holder, "w:0", 999)).toBe(false);
    expect(await b.borrows.release(two.holder, "w:0")).toBe(false);
    expect(await b.borrows.renew(two.holder, "w:0", LEASE)).toBe(false);
    expect(await dumpQueue(redis, b)).toEqual(before);
    expect(await b.borrows.release(two.holder, two.token)).toBe(true);
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 0, tokensMinute: 250, requestsMinute: 2 });
    // Nothing of a borrow is left behind on the fallback but its upstream's window.
    expect(Object.keys(await dumpQueue(redis, b, /^(b:|bl)/))).toEqual([]);
  });

  test("an expired borrow frees its slot and keeps its tokens, touching none of the fallback's tasks; a renewed one lasts", async () => {
    const { b, clock } = twoQueues(redis);
    // B runs a task of its own while it lends.
    await b.enqueueMany(entries("own", 1));
    const own = await b.dispatch("wb", 1, 100_000, undefined, [B_UP]);
    const dead = granted(await b.borrows.borrow("w", 300, 10_000, [B_UP], { origin: "model-a" }));
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 2, tokensMinute: 400 });
    const tasks = await dumpQueue(redis, b, /^(m:|q:|r$|c$|t$|x$|d$)/);
    clock.now += 10_000;
    // Its worker died: the lease ends. B's own task arrives and finds the slot free again.
    await b.enqueueMany(entries("own", 1));
    const next = await b.dispatch("wb", 1, LEASE, undefined, [B_UP]);
    expect(next.tasks).toHaveLength(1);
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 2, tokensMinute: 500 });
    expect(await redis.zrange(`${b.keys.base}u:b1:in`, "0", "-1")).toEqual(expect.arrayContaining([own.tasks[0]!.id, next.tasks[0]!.id]));
    // Not re-queued as a task: no line, no lease, no dead entry, no count; the task that was running untouched.
    const counts = await b.counts();
    expect(counts).toMatchObject({ waiting: 0, leased: 2, dead: 0, delayed: 0 });
    expect(await redis.hgetall(b.keys.task(own.tasks[0]!.id))).toEqual((tasks[b.keys.task(own.tasks[0]!.id)] as Record<string, string>));
    expect(await redis.lrange(b.keys.dead, 0, -1)).toEqual([]);
    expect(await b.borrows.settle(dead.holder, dead.token, 100)).toBe(false);
    // Renewed with its task's lease, a borrow outlives its first lease end.
    expect(await b.settle(next.tasks[0]!.id, next.token, 100)).toBe(true);
    const kept = granted(await b.borrows.borrow("w", 100, 10_000, [B_UP], { origin: "model-a" }));
    clock.now += 9_000;
    expect(await b.borrows.renew(kept.holder, kept.token, 10_000)).toBe(true);
    clock.now += 9_000;
    await b.enqueueMany(entries("own", 1));
    expect((await b.dispatch("wb", 1, LEASE, undefined, [B_UP])).blocked).toEqual({ reason: "capacity", wakeAt: null, upstreams: { b1: "concurrency" } });
    expect(await b.borrows.settle(kept.holder, kept.token, 100)).toBe(true);
  });

  test("an idle fallback's dispatch frees its expired borrows, so its in-flight count is true again", async () => {
    const { b, clock } = twoQueues(redis);
    granted(await b.borrows.borrow("w", 100, 5_000, [B_UP], { origin: "model-a" }));
    granted(await b.borrows.borrow("w", 100, 60_000, [B_UP], { origin: "model-a" }));
    clock.now += 5_000;
    // B has nothing to do: its loop's dispatch leases nothing and is blocked by nothing, yet the dead
    // borrow's slot is freed (the live one stays).
    const idle = await b.dispatch("wb", 4, LEASE, undefined, [B_UP]);
    expect(idle.tasks).toHaveLength(0);
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 1, tokensMinute: 200 });
  });

  test("a worker that stopped beating: its borrows are among the lease holders and are freed by reapDead, before their lease ends", async () => {
    const { b } = twoQueues(redis);
    granted(await b.borrows.borrow("w-dead", 100, LEASE, [B_UP], { origin: "model-a" }));
    granted(await b.borrows.borrow("w-live", 100, LEASE, [B_UP], { origin: "model-a" }));
    expect((await b.leaseHolders()).sort()).toEqual(["w-dead", "w-live"]);
    await b.reapDead(["w-dead"]);
    expect((await b.upstreams.snapshot([B_UP]))[0]).toMatchObject({ inFlight: 1, tokensMinute: 200 });
    expect(await b.leaseHolders()).toEqual(["w-live"]);
    expect(await b.counts()).toMatchObject({ waiting: 0, leased: 0, dead: 0 });
  });
});

describe("leasing on the model's own run queue for a borrow", () => {
  test("a blocked dispatch names the head it put back; the borrowed lease takes exactly that task and touches none of the model's upstream keys", async () => {
    const { a } = twoQueues(redis);
    await a.enqueueMany([...entries("big", 20, { est: 200 }), ...entries("other", 5, { est: 150 })]);
    // big and other are served a while, then a newcomer arrives: it is the fair next pick.
    await a.dispatch("wa", 6, LEASE, undefined, A_UPS);
    const [newcomer] = entries("new", 1, { est: 120 });
    await a.enqueueMany([newcomer!]);
    await pauseAll(a);
    const upstreamKeys = await dumpQueue(redis, a, /^u:/);
    const blocked = await a.dispatch("wa", 2, LEASE, undefined, A_UPS);
    expect(blocked.tasks).toHaveLength(0);
    expect(blocked.blocked?.reason).toBe("unavailable");
    expect(blocked.blockedHead).toEqual({ id: newcomer!.id, estimatedTokens: 120 });
    const lease = leased(await a.borrows.lease("wa", LEASE, { head: { maxEstimatedTokens: 120 } }, "model-b/b1"));
    expect(lease.task).toMatchObject({ id: newcomer!.id, tenant: "new", tier: "default", upstream: null });
    expect(await redis.hmget(a.keys.task(newcomer!.id), "st", "up", "bo")).toEqual(["l", null, "model-b/b1"]);
    expect(await a.state(newcomer!.id)).toMatchObject({ state: "leased" });
    expect(await a.counts()).toMatchObject({ leased: 7 });
    // Settle, like release and expiry, leave A's upstreams alone (the request ran on B's).
    expect(await a.settle(newcomer!.id, lease.token, 90)).toBe(true);
    expect(await dumpQueue(redis, a, /^u:/)).toEqual(upstreamKeys);
  });

  test("borrowed leases follow the model's fair order exactly: the same tasks, in the same order, the same counters as its own dispatch", async () => {
    const build = async (queue: RunQueue) => {
      const rnd = random(5);
      const list: RunQueueEntry[] = [];
      for (let i = 0; i < 60; i++) {
        const tenant = ["t0", "t1", "t2"][Math.floor(rnd() * 3)]!;
        list.push({ id: `task-${i}`, tenant, weight: tenant === "t1" ? 2 : 1, tier: (["priority", "default", "flex"] as const)[Math.floor(rnd() * 3)]!, estimatedTokens: 50 + Math.floor(rnd() * 400), queueDeadline: null, requestCopy: null });
      }
      await queue.enqueueMany(list);
    };
    const { a: viaDispatch } = twoQueues(redis);
    const { a: viaBorrow } = twoQueues(redis);
    await build(viaDispatch);
    await build(viaBorrow);
    const dispatched: string[] = [];
    const borrowed: string[] = [];
    for (let i = 0; i < 40; i++) {
      dispatched.push(...(await viaDispatch.dispatch("w", 1, LEASE)).tasks.map((t) => t.id));
      const lease = leased(await viaBorrow.borrows.lease("w", LEASE, { head: { maxEstimatedTokens: 1_000 } }, "fb"));
      borrowed.push(lease.task.id);
    }
    expect(borrowed).toEqual(dispatched);
    expect(await redis.zrange(viaBorrow.keys.tenants, "0", "-1", "WITHSCORES")).toEqual(await redis.zrange(viaDispatch.keys.tenants, "0", "-1", "WITHSCORES"));
  });

  test("a head larger than the borrow is not leased; an empty line, a task no longer waiting and a paused queue lease nothing", async () => {
    const { a } = twoQueues(redis);
    const [big] = entries("t", 1, { est: 500 });
    await a.enqueueMany([big!]);
    const before = await dumpQueue(redis, a);
    expect(await a.borrows.lease("w", LEASE, { head: { maxEstimatedTokens: 499 } }, "fb")).toEqual({ status: "larger", head: { id: big!.id, estimatedTokens: 500 } });
    expect(await dumpQueue(redis, a)).toEqual(before);
    const taken = leased(await a.borrows.lease("w", LEASE, { id: big!.id }, "fb"));
    expect(taken.task.id).toBe(big!.id);
    expect(await a.borrows.lease("w", LEASE, { id: big!.id }, "fb")).toEqual({ status: "gone" });
    expect(await a.borrows.lease("w", LEASE, { head: { maxEstimatedTokens: 1_000 } }, "fb")).toEqual({ status: "empty" });
    await a.enqueueMany(entries("t", 1));
    await a.pause();
    expect(await a.borrows.lease("w", LEASE, { head: { maxEstimatedTokens: 1_000 } }, "fb")).toEqual({ status: "paused" });
  });
});

describe("expiry rescue", () => {
  test("dueSoon answers exactly the waiting tasks whose queue deadline falls within rescueMs, soonest first, at most max", async () => {
    const { a, clock } = twoQueues(redis);
    const at = (id: string, deadline: number | null, tenant = "t"): RunQueueEntry => ({ id, tenant, weight: 1, tier: "default", estimatedTokens: 100, queueDeadline: deadline, requestCopy: null });
    const now = clock.now;
    await a.enqueueMany([
      at("late", now + 10_001),
      at("soon-3", now + 9_000),
      at("none", null),
      at("soon-1", now + 1_000, "u"),
      at("past", now),
      at("soon-2", now + 5_000),
      at("edge", now + 10_000),
      at("leased-soon", now + 2_000, "first"),
    ]);
    // A task leased is not waiting: not a rescue candidate.
    const d = await a.dispatch("w", 1, LEASE);
    expect(d.tasks[0]!.id).toBe("leased-soon");
    expect((await a.borrows.dueSoon()).map((t) => t.id)).toEqual(["soon-1", "soon-2", "soon-3", "edge"]);
    expect(await a.borrows.dueSoon(10_000, 2)).toEqual([
      { id: "soon-1", tenant: "u", tier: "default", estimatedTokens: 100, queueDeadline: now + 1_000 },
      { id: "soon-2", tenant: "t", tier: "default", estimatedTokens: 100, queueDeadline: now + 5_000 },
    ]);
    expect((await a.borrows.dueSoon(3_000)).map((t) => t.id)).toEqual(["soon-1"]);
    // Back in line (released, expired), it is a candidate again; withdrawn or leased for a borrow, not.
    expect(await a.release("leased-soon", d.token, { keepPlace: true })).toBe(true);
    expect((await a.borrows.dueSoon(3_000)).map((t) => t.id)).toEqual(["soon-1", "leased-soon"]);
    expect(await a.withdraw("soon-1")).toBe("waiting");
    leased(await a.borrows.lease("w", LEASE, { id: "leased-soon" }, "fb"));
    expect(await a.borrows.dueSoon(3_000)).toEqual([]);
    clock.now += LEASE;
    expect((await a.borrows.dueSoon(10_000)).map((t) => t.id)).toEqual([]);
    await a.requeueExpired();
    // Its deadline has passed by now: the engine expires it; the rescue no longer offers it.
    expect(await redis.zscore(`${a.keys.base}dl`, "leased-soon")).not.toBeNull();
    expect((await a.borrows.dueSoon(10_000)).map((t) => t.id)).toEqual([]);
  });

  test("a rescue lease takes the task due soon, charges its tenant, and leaves the rest of the line in its order", async () => {
    const { a, clock } = twoQueues(redis);
    await a.enqueueMany(entries("x", 5));
    await a.enqueueMany([{ id: "urgent", tenant: "y", weight: 1, tier: "flex", estimatedTokens: 100, queueDeadline: clock.now + 3_000, requestCopy: null }]);
    await a.enqueueMany(entries("y", 2));
    const [due] = await a.borrows.dueSoon();
    expect(due!.id).toBe("urgent");
    const counterBefore = Number(await redis.zscore(a.keys.tenants, "y"));
    leased(await a.borrows.lease("w", LEASE, { id: due!.id }, "fb"));
    expect(Number(await redis.zscore(a.keys.tenants, "y"))).toBeCloseTo(counterBefore + 100, 6);
    expect(await a.counts()).toMatchObject({ waiting: 7, leased: 1, waitingByTenant: { x: { default: 5 }, y: { default: 2 } } });
  });
});

describe("crash safety", () => {
  test("a worker dying after BORROW, before leasing on the model: the borrow expires on the fallback, its slot free", async () => {
    const { a, b, clock } = twoQueues(redis);
    const only: UpstreamParams = { name: "b1", maxConcurrency: 1 };
    await a.enqueueMany(entries("t", 1));
    await pauseAll(a);
    const blocked = await a.dispatch("w1", 1, LEASE, undefined, A_UPS);
    granted(await b.borrows.borrow("w1", blocked.blockedHead!.estimatedTokens, LEASE, [only], { origin: "model-a" }));
    // ... w1 dies here. Another worker borrows: no room until the lease ends.
    expect((await b.borrows.borrow("w2", 100, LEASE, [only], { origin: "model-a" })).status).toBe("blocked");
    await b.enqueueMany(entries("own", 1));
    expect((await b.dispatch("wb", 1, LEASE, undefined, [only])).tasks).toHaveLength(0);
    clock.now += LEASE;
    expect((await b.dispatch("wb", 1, LEASE, undefined, [only])).tasks).toHaveLength(1);
    // The task of A never left its line.
    expect(await a.counts()).toMatchObject({ waiting: 1, leased: 0 });
  });

  test("a worker dying after both steps: the task goes back in its place on the model, the borrow expires, and the zombie's settles change nothing", async () => {
    const { a, b, clock } = twoQueues(redis);
    const only: UpstreamParams = { name: "b1", maxConcurrency: 1 };
    const line = entries("t", 3);
    await a.enqueueMany(line);
    await pauseAll(a);
    const head = (await a.dispatch("w1", 1, LEASE, undefined, A_UPS)).blockedHead!;
    const borrow = granted(await b.borrows.borrow("w1", head.estimatedTokens, LEASE, [only], { origin: "model-a" }));
    const lease = leased(await a.borrows.lease("w1", LEASE, { head: { maxEstimatedTokens: head.estimatedTokens } }, "model-b/b1"));
    expect(lease.task.id).toBe(line[0]!.id);
    // ... w1 dies mid-request. Both leases end.
    clock.now += LEASE;
    await a.requeueExpired();
    expect(await a.state(line[0]!.id)).toMatchObject({ state: "waiting", stalls: 1 });
    expect(await redis.hget(a.keys.task(line[0]!.id), "bo")).toBeNull();
    // In its place: once A's upstreams are back, it goes first, on A's own upstream.
    clock.now += 60_000;
    const again = await a.dispatch("w2", 1, LEASE, undefined, A_UPS);
    expect(again.tasks.map((t) => [t.id, t.upstream])).toEqual([[line[0]!.id, "a1"]]);
    // The fallback's slot is free again for anyone; the zombie's settles are fenced on both sides.
    granted(await b.borrows.borrow("w2", 100, LEASE, [only], { origin: "model-a" }));
    expect(await b.borrows.settle(borrow.holder, borrow.token, 100)).toBe(false);
    expect(await a.settle(line[0]!.id, lease.token, 100)).toBe(false);
    expect(await a.counts()).toMatchObject({ waiting: 2, leased: 1 });
  });
});
