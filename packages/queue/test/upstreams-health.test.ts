import { testRedisUrl } from "@llmq/testkit";
import { type RedisConnection, type UpstreamParams, closeRedis, createRedis } from "../src";
import { entries, testQueue } from "./run-queue-helpers";
import { dumpQueue, random } from "./upstreams-helpers";

/**
 * Upstream health in the run queue (issue 16, part 2), at script level against real Redis: REPORT's
 * pauses (429 with and without Retry-After, insufficient_quota) and circuit breaker, the weighted
 * least-load choice, RESERVE (failover) and SNAPSHOT. Time is the queue's test clock; nothing sleeps.
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

const A: UpstreamParams = { name: "a", maxConcurrency: 100, quotaPauseMs: 30_000, circuit: { failures: 3, windowMs: 10_000, cooldownMs: 20_000 } };
const B: UpstreamParams = { name: "b", maxConcurrency: 100 };

describe("pauses", () => {
  test("a 429 with Retry-After pauses the upstream for everyone until then; the other upstream takes the work meanwhile", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("t", 20));
    expect(await queue.upstreams.report(A, { kind: "rate_limited", retryAfterMs: 2_000 })).toEqual({ state: "paused", pausedUntil: clock.now + 2_000, openUntil: null });
    // Only a, paused: nothing leaves the line, and the answer says until when.
    const held = await queue.dispatch("w", 5, 30_000, undefined, [A]);
    expect(held.tasks).toHaveLength(0);
    expect(held.blocked).toEqual({ reason: "unavailable", wakeAt: clock.now + 2_000, upstreams: { a: "paused" } });
    // With b beside it, b serves.
    expect((await queue.dispatch("w", 3, 30_000, undefined, [A, B])).tasks.map((t) => t.upstream)).toEqual(["b", "b", "b"]);
    clock.now += 1_999;
    expect((await queue.dispatch("w", 1, 30_000, undefined, [A])).tasks).toHaveLength(0);
    clock.now += 1;
    expect((await queue.dispatch("w", 1, 30_000, undefined, [A])).tasks.map((t) => t.upstream)).toEqual(["a"]);
    // A shorter Retry-After never shortens a running pause.
    await queue.upstreams.report(A, { kind: "rate_limited", retryAfterMs: 5_000 });
    expect((await queue.upstreams.report(A, { kind: "rate_limited", retryAfterMs: 1_000 })).pausedUntil).toBe(clock.now + 5_000);
  });

  test("a 429 without Retry-After pauses by a step doubling from 1 s; victims of the same burst count once; ok resets it", async () => {
    const { queue, clock } = testQueue(redis);
    const pausesFor: number[] = [];
    const hit = async () => {
      const health = await queue.upstreams.report(A, { kind: "rate_limited" });
      pausesFor.push(health.pausedUntil! - clock.now);
      // Two more victims of the same burst report while the pause runs.
      clock.now += 10;
      await queue.upstreams.report(A, { kind: "rate_limited" });
      await queue.upstreams.report(A, { kind: "rate_limited" });
      clock.now = health.pausedUntil! > clock.now ? (await queue.upstreams.snapshot([A]))[0]!.pausedUntil! : clock.now;
    };
    for (let i = 0; i < 8; i++) await hit();
    expect(pausesFor).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    await queue.upstreams.report(A, { kind: "ok", latencyMs: 100 });
    pausesFor.length = 0;
    await hit();
    expect(pausesFor).toEqual([1_000]);
  });

  test("insufficient_quota pauses the upstream for its quota pause; the tasks wait in line, none is dropped", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("t", 3));
    expect(await queue.upstreams.report(A, { kind: "quota" })).toEqual({ state: "paused", pausedUntil: clock.now + 30_000, openUntil: null });
    const held = await queue.dispatch("w", 3, 30_000, undefined, [A]);
    expect(held.blocked).toEqual({ reason: "unavailable", wakeAt: clock.now + 30_000, upstreams: { a: "paused" } });
    const [snap] = await queue.upstreams.snapshot([A]);
    expect(snap).toMatchObject({ state: "paused", pauseKind: "quota", pausedUntil: clock.now + 30_000, errors: { quota: 1 } });
    expect((await queue.counts()).waiting).toBe(3);
    clock.now += 30_000;
    expect((await queue.dispatch("w", 3, 30_000, undefined, [A])).tasks).toHaveLength(3);
  });
});

describe("circuit breaker", () => {
  test("opens at N failures in the window, lets one probe through after the cooldown, closes on its success", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("t", 20));
    // Two failures, then the window passes: still closed.
    await queue.upstreams.report(A, { kind: "fail", error: "connection" });
    await queue.upstreams.report(A, { kind: "fail", error: "timeout" });
    clock.now += 10_001;
    expect((await queue.upstreams.report(A, { kind: "fail", error: "server" })).state).toBe("ok");
    clock.now += 1_000;
    expect((await queue.upstreams.report(A, { kind: "fail", error: "server" })).state).toBe("ok");
    expect(await queue.upstreams.report(A, { kind: "fail", error: "server" })).toEqual({ state: "open", pausedUntil: null, openUntil: clock.now + 20_000 });
    const open = await queue.dispatch("w", 5, 30_000, undefined, [A]);
    expect(open.blocked).toEqual({ reason: "unavailable", wakeAt: clock.now + 20_000, upstreams: { a: "open" } });
    // A late ok from a request started before it opened does not close it.
    expect((await queue.upstreams.report(A, { kind: "ok" })).state).toBe("open");
    clock.now += 20_000;
    expect((await queue.upstreams.snapshot([A]))[0]!.state).toBe("half_open");
    // One probe, and only one.
    const probe = await queue.dispatch("w", 5, 30_000, undefined, [A]);
    expect(probe.tasks).toHaveLength(1);
    expect(probe.blocked).toEqual({ reason: "unavailable", wakeAt: null, upstreams: { a: "probing" } });
    expect((await queue.dispatch("w", 5, 30_000, undefined, [A, B])).tasks.map((t) => t.upstream)).toEqual(["b", "b", "b", "b", "b"]);
    expect(await queue.upstreams.report(A, { kind: "ok", latencyMs: 80 })).toEqual({ state: "ok", pausedUntil: null, openUntil: null });
    expect(await queue.settle(probe.tasks[0]!.id, probe.token, 10)).toBe(true);
    expect((await queue.dispatch("w", 5, 30_000, undefined, [A])).tasks).toHaveLength(5);
    // Closed again means a fresh window: two failures do not reopen it.
    await queue.upstreams.report(A, { kind: "fail" });
    expect((await queue.upstreams.report(A, { kind: "fail" })).state).toBe("ok");
  });

  test("a failed probe opens it again for another cooldown; a probe given back without a report lets another one through", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("t", 10));
    for (let i = 0; i < 3; i++) await queue.upstreams.report(A, { kind: "fail" });
    clock.now += 20_000;
    const probe = await queue.dispatch("w", 2, 30_000, undefined, [A]);
    expect(probe.tasks).toHaveLength(1);
    expect(await queue.upstreams.report(A, { kind: "fail" })).toEqual({ state: "open", pausedUntil: null, openUntil: clock.now + 20_000 });
    expect(await queue.settle(probe.tasks[0]!.id, probe.token, 0)).toBe(true);
    expect((await queue.dispatch("w", 2, 30_000, undefined, [A])).blocked?.upstreams).toEqual({ a: "open" });
    clock.now += 20_000;
    const second = await queue.dispatch("w", 2, 30_000, undefined, [A]);
    expect(second.tasks).toHaveLength(1);
    // The worker gives the probe back (its database was out of reach): the next dispatch may probe.
    expect(await queue.release(second.tasks[0]!.id, second.token, { keepPlace: true })).toBe(true);
    const third = await queue.dispatch("w", 2, 30_000, undefined, [A]);
    expect(third.tasks.map((t) => t.id)).toEqual([second.tasks[0]!.id]);
    // So does a probe whose lease expired (its worker died).
    clock.now += 30_001;
    expect((await queue.dispatch("w", 2, 30_000, undefined, [A])).tasks).toHaveLength(1);
  });

  test("without a circuit configured, failures never take the upstream out", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("t", 2));
    for (let i = 0; i < 20; i++) expect((await queue.upstreams.report(B, { kind: "fail" })).state).toBe("ok");
    expect((await queue.dispatch("w", 2, 30_000, undefined, [B])).tasks).toHaveLength(2);
  });
});

describe("choice between upstreams", () => {
  test("weights 3:1 under saturation split the dispatches 3:1 (within 3 points), by least in flight per weight", async () => {
    const { queue } = testQueue(redis);
    const ups: UpstreamParams[] = [{ name: "big", weight: 3 }, { name: "small", weight: 1 }];
    await queue.enqueueMany(entries("t", 2_100));
    const rnd = random(11);
    const inFlight: { id: string; token: string; upstream: string }[] = [];
    const first = await queue.dispatch("w", 40, 600_000, undefined, ups);
    for (const t of first.tasks) inFlight.push({ id: t.id, token: first.token, upstream: t.upstream! });
    expect(inFlight.filter((t) => t.upstream === "big")).toHaveLength(30);
    const served: Record<string, number> = { big: 0, small: 0 };
    for (let i = 0; i < 2_000; i++) {
      // Saturated: 40 always in flight; a random one ends, the next is dispatched.
      const [done] = inFlight.splice(Math.floor(rnd() * inFlight.length), 1);
      expect(await queue.settle(done!.id, done!.token, 100)).toBe(true);
      const d = await queue.dispatch("w", 1, 600_000, undefined, ups);
      served[d.tasks[0]!.upstream!]!++;
      inFlight.push({ id: d.tasks[0]!.id, token: d.token, upstream: d.tasks[0]!.upstream! });
    }
    const share = served.big! / 2_000;
    process.stdout.write(`weights 3:1: big served ${served.big}, small ${served.small} (share ${share.toFixed(3)})\n`);
    expect(Math.abs(share - 0.75)).toBeLessThan(0.03);
  });

  test("ties go to the upstream listed first; a full upstream is passed over for one with room", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("t", 6));
    const ups: UpstreamParams[] = [{ name: "x", maxConcurrency: 1 }, { name: "y", maxConcurrency: 3 }];
    const d = await queue.dispatch("w", 6, 30_000, undefined, ups);
    expect(d.tasks.map((t) => t.upstream)).toEqual(["x", "y", "y", "y"]);
    expect(d.blocked).toEqual({ reason: "capacity", wakeAt: null, upstreams: { x: "concurrency", y: "concurrency" } });
  });
});

describe("RESERVE (failover)", () => {
  test("moves a leased task's reservation to another upstream, excluding the one that failed it, and frees the old one", async () => {
    const { queue } = testQueue(redis);
    const ups: UpstreamParams[] = [
      { name: "a", maxConcurrency: 2, tokensPerMinute: 10_000 },
      { name: "b", maxConcurrency: 1, tokensPerMinute: 10_000 },
    ];
    await queue.enqueueMany(entries("t", 3, { est: 400 }));
    const d = await queue.dispatch("w", 1, 30_000, undefined, ups);
    const task = d.tasks[0]!;
    expect(task.upstream).toBe("a");
    await queue.upstreams.report(ups[0]!, { kind: "fail", error: "connection" });
    expect(await queue.upstreams.reserve(task.id, d.token, ["a"], ups)).toEqual({ upstream: "b" });
    let snap = await queue.upstreams.snapshot(ups);
    expect(snap.map((s) => [s.name, s.inFlight, s.tokensMinute])).toEqual([["a", 0, 0], ["b", 1, 400]]);
    // b fails too: nothing left but a, which is excluded now -> none, and no reservation is held.
    const none = await queue.upstreams.reserve(task.id, d.token, ["a", "b"], ups);
    expect(none).toEqual({ upstream: null, blocked: { reason: "unavailable", wakeAt: null, upstreams: {} }, lost: false });
    snap = await queue.upstreams.snapshot(ups);
    expect(snap.map((s) => s.inFlight)).toEqual([0, 0]);
    // b full with another task, a excluded: capacity, not unavailable.
    const other = await queue.dispatch("w", 2, 30_000, undefined, [ups[1]!]);
    expect(other.tasks).toHaveLength(1);
    expect(await queue.upstreams.reserve(task.id, d.token, ["a"], ups)).toEqual({
      upstream: null,
      blocked: { reason: "capacity", wakeAt: null, upstreams: { b: "concurrency" } },
      lost: false,
    });
    // Settling a task that holds no reservation any more is fine.
    expect(await queue.settle(task.id, d.token, 300)).toBe(true);
    // A token that no longer holds the task: nothing happens.
    expect(await queue.upstreams.reserve(task.id, d.token, [], ups)).toEqual({ upstream: null, blocked: null, lost: true });
    expect((await queue.upstreams.snapshot(ups)).map((s) => s.inFlight)).toEqual([0, 1]);
  });

  test("a paused upstream is unavailable to RESERVE, with its pause end as the wake time", async () => {
    const { queue, clock } = testQueue(redis);
    await queue.enqueueMany(entries("t", 1));
    const d = await queue.dispatch("w", 1, 30_000, undefined, [A, B]);
    expect(d.tasks[0]!.upstream).toBe("a");
    await queue.upstreams.report(B, { kind: "rate_limited", retryAfterMs: 3_000 });
    expect(await queue.upstreams.reserve(d.tasks[0]!.id, d.token, ["a"], [A, B])).toEqual({
      upstream: null,
      blocked: { reason: "unavailable", wakeAt: clock.now + 3_000, upstreams: { b: "paused" } },
      lost: false,
    });
    clock.now += 3_000;
    expect(await queue.upstreams.reserve(d.tasks[0]!.id, d.token, ["a"], [A, B])).toEqual({ upstream: "b" });
  });
});

describe("SNAPSHOT", () => {
  test("shows state, load in the window, latency p50/p95 and errors by kind; and changes nothing", async () => {
    const { queue, clock } = testQueue(redis);
    const ups: UpstreamParams[] = [
      { ...A, requestsPerMinute: 100, tokensPerMinute: 50_000 },
      { name: "b", maxConcurrency: 4 },
    ];
    await queue.enqueueMany(entries("t", 5, { est: 1_000 }));
    const d = await queue.dispatch("w", 3, 30_000, undefined, ups);
    expect(d.tasks.map((t) => t.upstream)).toEqual(["a", "b", "a"]);
    for (let i = 1; i <= 100; i++) await queue.upstreams.report(ups[0]!, { kind: "ok", latencyMs: i * 10 });
    await queue.upstreams.report(ups[0]!, { kind: "fail", error: "timeout" });
    await queue.upstreams.report(ups[0]!, { kind: "fail", error: "timeout" });
    await queue.upstreams.report(ups[0]!, { kind: "rate_limited", retryAfterMs: 4_000 });
    clock.now += 1_000;
    const before = await dumpQueue(redis, queue);
    const snap = await queue.upstreams.snapshot(ups);
    expect(await dumpQueue(redis, queue)).toEqual(before);
    expect(snap).toEqual([
      {
        name: "a",
        state: "paused",
        pausedUntil: clock.now + 3_000,
        pauseKind: "rate_limited",
        openUntil: null,
        inFlight: 2,
        maxConcurrency: 100,
        requestsMinute: 2,
        requestsPerMinute: 100,
        tokensMinute: 2_000,
        tokensPerMinute: 50_000,
        latencyMs: { p50: 500, p95: 950 },
        errors: { timeout: 2, rate_limited: 1 },
        lastError: { kind: "rate_limited", at: clock.now - 1_000 },
      },
      {
        name: "b",
        state: "ok",
        pausedUntil: null,
        pauseKind: null,
        openUntil: null,
        inFlight: 1,
        maxConcurrency: 4,
        requestsMinute: 0,
        requestsPerMinute: null,
        tokensMinute: 0,
        tokensPerMinute: null,
        latencyMs: null,
        errors: {},
        lastError: null,
      },
    ]);
    // Errors older than 5 minutes and requests/tokens older than 60 s are out of the view.
    clock.now += 6 * 60_000;
    const [later] = await queue.upstreams.snapshot(ups);
    expect(later).toMatchObject({ state: "ok", errors: {}, requestsMinute: 0, tokensMinute: 0, inFlight: 2 });
  });

  test("is declared read-only: Redis runs it with no-writes (so it can serve from a replica)", async () => {
    const { SNAPSHOT } = await import("../src/run-queue/upstreams-scripts");
    expect(SNAPSHOT.startsWith("#!lua flags=no-writes\n")).toBe(true);
  });
});
