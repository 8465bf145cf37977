import { testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type RedisConnection, RunQueue, UPSTREAM_COUNTED_MS, type UpstreamParams, closeRedis, createRedis } from "../src";
import { entries, testQueue } from "./run-queue-helpers";
import { dumpQueue, random } from "./upstreams-helpers";

/**
 * Upstream capacity in the run queue (issue 16, part 2), at script level against real Redis: what
 * DISPATCH reserves (concurrency slot, request, estimated tokens in a sliding 60 s window) and what
 * SETTLE, RELEASE and an expired lease give back. Time is the queue's test clock; nothing sleeps.
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

const MINUTE = 60_000;
/** How long a reservation counts: the minute and the margin for the request's way to the upstream. */
const COUNTED = UPSTREAM_COUNTED_MS;

/** Tokens (or requests, with weight 1) started in the 60 s window ending at each start, the largest. */
function busiestWindow(starts: { at: number; tokens: number }[]): number {
  let worst = 0;
  for (const end of starts) {
    let sum = 0;
    for (const s of starts) if (s.at > end.at - MINUTE && s.at <= end.at) sum += s.tokens;
    worst = Math.max(worst, sum);
  }
  return worst;
}

describe("tokens per minute", () => {
  test("no 60 s window is ever over budget across many dispatches and settles below the estimate, and every task is served", async () => {
    const { queue, clock } = testQueue(redis);
    const tpm = 10_000;
    const up: UpstreamParams[] = [{ name: "gpu", tokensPerMinute: tpm }];
    const rnd = random(16);
    const tasks = [...entries("a", 150, { est: 1_000 }), ...entries("b", 150, { est: 700 })];
    await queue.enqueueMany(tasks);
    const est = new Map(tasks.map((t) => [t.id, t.estimatedTokens]));
    const ledger = new Map<string, { at: number; tokens: number }>();
    const inFlight: { id: string; token: string }[] = [];
    let blockedByTokens = 0;
    for (let step = 0; ledger.size < tasks.length || inFlight.length > 0; step++) {
      expect(step).toBeLessThan(5_000);
      clock.now += Math.floor(rnd() * 3_000);
      // Settle some in-flight tasks with real usage at or below their estimate.
      for (let i = inFlight.length - 1; i >= 0; i--) {
        if (rnd() < 0.5) {
          const [done] = inFlight.splice(i, 1);
          const actual = Math.floor(est.get(done!.id)! * (0.2 + 0.8 * rnd()));
          expect(await queue.settle(done!.id, done!.token, actual)).toBe(true);
          ledger.get(done!.id)!.tokens = actual;
        }
      }
      const d = await queue.dispatch("w", 4, 600_000, undefined, up);
      for (const t of d.tasks) {
        expect(t.upstream).toBe("gpu");
        expect(ledger.has(t.id)).toBe(false);
        ledger.set(t.id, { at: clock.now, tokens: est.get(t.id)! });
        inFlight.push({ id: t.id, token: d.token });
      }
      if (d.blocked) {
        expect(d.blocked).toEqual({ reason: "capacity", wakeAt: expect.any(Number), upstreams: { gpu: "tokens" } });
        expect(d.blocked.wakeAt!).toBeGreaterThan(clock.now);
        blockedByTokens++;
      }
    }
    const worst = busiestWindow([...ledger.values()]);
    process.stdout.write(`TPM ${tpm}: ${ledger.size} tasks, busiest 60 s window ${worst} tokens, ${blockedByTokens} dispatches held back\n`);
    expect(worst).toBeLessThanOrEqual(tpm);
    expect(worst).toBeGreaterThan(tpm * 0.8); // room freed by low settles is used again
    expect(blockedByTokens).toBeGreaterThan(10);
    expect((await queue.counts()).waiting).toBe(0);
  });

  test("settles above the estimate count: a dispatch never goes into a window that, as known then, lacks room", async () => {
    const { queue, clock } = testQueue(redis);
    const tpm = 8_000;
    const up: UpstreamParams[] = [{ name: "gpu", tokensPerMinute: tpm, maxConcurrency: 6 }];
    const rnd = random(7);
    const tasks = entries("a", 250, { est: 500 });
    await queue.enqueueMany(tasks);
    const ledger = new Map<string, { at: number; tokens: number; settled: boolean }>();
    const inFlight: { id: string; token: string }[] = [];
    let above = 0;
    for (let step = 0; ledger.size < tasks.length || inFlight.length > 0; step++) {
      expect(step).toBeLessThan(5_000);
      clock.now += Math.floor(rnd() * 4_000);
      for (let i = inFlight.length - 1; i >= 0; i--) {
        if (rnd() < 0.6) {
          const [done] = inFlight.splice(i, 1);
          const actual = Math.floor(500 * (0.3 + 1.4 * rnd())); // 150..850
          if (actual > 500) above++;
          expect(await queue.settle(done!.id, done!.token, actual)).toBe(true);
          Object.assign(ledger.get(done!.id)!, { tokens: actual, settled: true });
        }
      }
      const d = await queue.dispatch("w", 3, 600_000, undefined, up);
      for (const t of d.tasks) {
        // What was known at this dispatch: real usage of settled tasks, estimates of running ones.
        let known = 500;
        for (const s of ledger.values()) if (s.at > clock.now - MINUTE) known += s.tokens;
        expect(known).toBeLessThanOrEqual(tpm);
        ledger.set(t.id, { at: clock.now, tokens: 500, settled: false });
        inFlight.push({ id: t.id, token: d.token });
      }
    }
    expect(above).toBeGreaterThan(50);
    expect(ledger.size).toBe(250);
  });

  test("a settle above the estimate shrinks the window's room by the excess; below it, frees the difference", async () => {
    const { queue, clock } = testQueue(redis);
    const up: UpstreamParams[] = [{ name: "gpu", tokensPerMinute: 1_000 }];
    await queue.enqueueMany(entries("a", 10, { est: 300 }));
    const first = await queue.dispatch("w", 10, 600_000, undefined, up);
    expect(first.tasks).toHaveLength(3); // 900 of 1,000
    expect(first.blocked?.upstreams).toEqual({ gpu: "tokens" });
    // The window counts in 1 s buckets: the three leave when their second's last millisecond does.
    expect(first.blocked?.wakeAt).toBe(clock.now + COUNTED + 999);
    clock.now += 1_000;
    expect(await queue.settle(first.tasks[0]!.id, first.token, 100)).toBe(true); // 700 in the window
    expect((await queue.dispatch("w", 10, 600_000, undefined, up)).tasks).toHaveLength(1); // 1,000
    expect(await queue.settle(first.tasks[1]!.id, first.token, 500)).toBe(true); // 1,200: over, by what was used
    const [snap] = await queue.upstreams.snapshot(up);
    expect(snap!.tokensMinute).toBe(1_200);
    // Nothing more until the first three leave the window (started at the test's start).
    clock.now += COUNTED - 2;
    expect((await queue.dispatch("w", 10, 600_000, undefined, up)).tasks).toHaveLength(0);
    clock.now += 1;
    // 300 left in the window (the one dispatched at +1 s): room for two more.
    expect((await queue.dispatch("w", 10, 600_000, undefined, up)).tasks).toHaveLength(2);
  });

  test("the task at the head is not skipped for a smaller one: it waits for room with its place, then goes first", async () => {
    const { queue, clock } = testQueue(redis);
    const up: UpstreamParams[] = [{ name: "gpu", tokensPerMinute: 1_000 }];
    await queue.enqueueMany(entries("a", 1, { est: 800 }));
    const one = await queue.dispatch("w", 1, 600_000, undefined, up);
    expect(one.tasks).toHaveLength(1);
    // small's tenant arrives first; big's, arriving later, is lifted just below it (a newcomer's credit),
    // so big is next in line, and 600 does not fit in the 200 left: nobody passes it.
    await queue.enqueueMany(entries("small", 5, { est: 100 }));
    const [big] = entries("big", 1, { est: 600 });
    await queue.enqueueMany([big!]);
    clock.now += 10_000;
    const held = await queue.dispatch("w", 5, 600_000, undefined, up);
    expect(held.tasks).toHaveLength(0);
    expect(held.blocked).toEqual({ reason: "capacity", wakeAt: clock.now - 10_000 + COUNTED + 999, upstreams: { gpu: "tokens" } });
    expect((await queue.state(big!.id))?.state).toBe("waiting");
    expect(await queue.place(big!.id)).toEqual({ ahead: 0, leased: 1 });
    clock.now = held.blocked!.wakeAt!;
    const next = await queue.dispatch("w", 1, 600_000, undefined, up);
    expect(next.tasks.map((t) => t.id)).toEqual([big!.id]);
  });

  test("a task estimated above the budget is reserved at the budget and runs alone in its window", async () => {
    const { queue, clock } = testQueue(redis);
    const up: UpstreamParams[] = [{ name: "gpu", tokensPerMinute: 1_000 }];
    await queue.enqueueMany(entries("a", 2, { est: 5_000 }));
    expect((await queue.dispatch("w", 2, 600_000, undefined, up)).tasks).toHaveLength(1);
    clock.now += COUNTED + 998;
    expect((await queue.dispatch("w", 2, 600_000, undefined, up)).tasks).toHaveLength(0);
    clock.now += 1;
    expect((await queue.dispatch("w", 2, 600_000, undefined, up)).tasks).toHaveLength(1);
  });
});

describe("requests per minute", () => {
  test("no 60 s window holds more request starts than the budget; the wake time is when the oldest leaves", async () => {
    const { queue, clock } = testQueue(redis);
    const rpm = 20;
    const up: UpstreamParams[] = [{ name: "api", requestsPerMinute: rpm }];
    const rnd = random(3);
    await queue.enqueueMany(entries("a", 200));
    const starts: { at: number; tokens: number }[] = [];
    let wakes = 0;
    while (starts.length < 200) {
      const d = await queue.dispatch("w", 7, 600_000, undefined, up);
      for (const t of d.tasks) {
        starts.push({ at: clock.now, tokens: 1 });
        expect(await queue.settle(t.id, d.token, 50)).toBe(true); // settling never gives a request back
      }
      if (d.blocked) {
        expect(d.blocked.upstreams).toEqual({ api: "requests" });
        const oldest = starts.filter((s) => s.at > clock.now - COUNTED).reduce((min, s) => Math.min(min, s.at), Infinity);
        expect(d.blocked.wakeAt).toBe(oldest + COUNTED);
        wakes++;
        clock.now = rnd() < 0.5 ? d.blocked.wakeAt! : clock.now + Math.floor(rnd() * 5_000);
      } else clock.now += Math.floor(rnd() * 2_000);
    }
    expect(busiestWindow(starts)).toBe(rpm);
    expect(wakes).toBeGreaterThan(5);
  });
});

describe("the way to the upstream", () => {
  test("a reservation counts a margin beyond its minute: two requests dispatched 60 s apart may arrive less than 60 s apart", async () => {
    const { queue, clock } = testQueue(redis);
    const up: UpstreamParams[] = [{ name: "api", requestsPerMinute: 1 }];
    await queue.enqueueMany(entries("a", 2));
    const first = await queue.dispatch("w", 1, 600_000, undefined, up);
    expect(first.tasks).toHaveLength(1);
    // Exactly a minute later the first request may only now have reached the upstream: not yet.
    clock.now += MINUTE;
    const early = await queue.dispatch("w", 1, 600_000, undefined, up);
    expect({ leased: early.tasks.length, wakeAt: early.blocked?.wakeAt }).toEqual({ leased: 0, wakeAt: clock.now - MINUTE + COUNTED });
    clock.now = early.blocked!.wakeAt!;
    expect((await queue.dispatch("w", 1, 600_000, undefined, up)).tasks).toHaveLength(1);
  });
});

describe("max_concurrency", () => {
  test("three consumers on their own connections never hold more than max_concurrency between them", async () => {
    const prefix = uniquePrefix();
    const clock = { now: 1_800_000_000_000 };
    const connections = [0, 1, 2].map(() => createRedis(testRedisUrl(), { blocking: true }));
    try {
      const queues = connections.map((c) => new RunQueue(c, { prefix, queueName: "llm_test_queue", now: () => clock.now }));
      const up: UpstreamParams[] = [{ name: "gpu", maxConcurrency: 5 }];
      await queues[0]!.enqueueMany(entries("a", 300));
      const rnd = random(5);
      const held: { id: string; token: string }[][] = [[], [], []];
      let served = 0;
      let peak = 0;
      for (let round = 0; served < 300; round++) {
        expect(round).toBeLessThan(2_000);
        clock.now += 10;
        // The three dispatch (and settle) at the same time, each on its connection.
        await Promise.all(
          queues.map(async (queue, w) => {
            const mine = held[w]!;
            for (let i = mine.length - 1; i >= 0; i--) {
              if (rnd() < 0.3) {
                const [done] = mine.splice(i, 1);
                expect(await queue.settle(done!.id, done!.token, 80)).toBe(true);
                served++;
              }
            }
            const d = await queue.dispatch(`w${w}`, 3, 600_000, undefined, up);
            for (const t of d.tasks) mine.push({ id: t.id, token: d.token });
          }),
        );
        const total = held.reduce((sum, h) => sum + h.length, 0);
        peak = Math.max(peak, total);
        expect(total).toBeLessThanOrEqual(5);
        const [snap] = await queues[0]!.upstreams.snapshot(up);
        expect(snap!.inFlight).toBe(total);
      }
      expect(peak).toBe(5);
      expect(held.every((h) => h.length === 0)).toBe(true);
    } finally {
      await Promise.all(connections.map((c) => closeRedis(c)));
    }
  });
});

describe("what gives a reservation back", () => {
  test("release frees the slot and refunds the tokens; an expired lease frees the slot and keeps the tokens", async () => {
    const { queue, clock } = testQueue(redis);
    const up: UpstreamParams[] = [{ name: "gpu", maxConcurrency: 2, tokensPerMinute: 1_000, requestsPerMinute: 100 }];
    await queue.enqueueMany(entries("a", 4, { est: 300 }));
    const d = await queue.dispatch("w", 4, 30_000, undefined, up);
    expect(d.tasks).toHaveLength(2);
    expect(d.blocked?.upstreams).toEqual({ gpu: "concurrency" });
    expect(d.blocked?.wakeAt).toBeNull();
    expect(await queue.release(d.tasks[0]!.id, d.token, { keepPlace: true })).toBe(true);
    let [snap] = await queue.upstreams.snapshot(up);
    expect(snap).toMatchObject({ inFlight: 1, tokensMinute: 300, requestsMinute: 2 });
    clock.now += 30_001; // the other lease expires: its slot comes back at the next dispatch
    const again = await queue.dispatch("w", 4, 30_000, undefined, up);
    expect(again.tasks).toHaveLength(2);
    [snap] = await queue.upstreams.snapshot(up);
    // 300 kept from the expired lease (the request may have run) + 2 x 300 new.
    expect(snap).toMatchObject({ inFlight: 2, tokensMinute: 900, requestsMinute: 4 });
  });

  test("a settle or release with a wrong token changes nothing of the upstream", async () => {
    const { queue } = testQueue(redis);
    const up: UpstreamParams[] = [{ name: "gpu", maxConcurrency: 2, tokensPerMinute: 1_000 }];
    await queue.enqueueMany(entries("a", 2, { est: 300 }));
    const d = await queue.dispatch("w", 2, 30_000, undefined, up);
    const before = await dumpQueue(redis, queue);
    expect(await queue.settle(d.tasks[0]!.id, "w:999", 10)).toBe(false);
    expect(await queue.release(d.tasks[1]!.id, "other", { keepPlace: false })).toBe(false);
    expect(await dumpQueue(redis, queue)).toEqual(before);
  });

  test("without upstreams, dispatch reserves nothing and answers no upstream (the path the worker uses today)", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("a", 3));
    const d = await queue.dispatch("w", 3, 30_000);
    expect(d.tasks.map((t) => t.upstream)).toEqual([null, null, null]);
    expect(d.blocked).toBeNull();
    expect(await queue.settle(d.tasks[0]!.id, d.token, 10)).toBe(true);
    expect((await redis.keys(`${queue.keys.base.replace(/[{}]/g, "\\$&")}u:*`)).length).toBe(0);
  });
});

describe("upstream params", () => {
  test("bad params are refused before anything is sent, with the field named", async () => {
    const { queue } = testQueue(redis);
    await queue.enqueueMany(entries("a", 1));
    const before = await dumpQueue(redis, queue);
    const bad: [UpstreamParams[], RegExp][] = [
      [[{ name: "a b" }], /upstream name "a b"/],
      [[{ name: "a" }, { name: "a" }], /upstream a is listed twice/],
      [[{ name: "a", maxConcurrency: 0 }], /max_concurrency of upstream a/],
      [[{ name: "a", tokensPerMinute: 1.5 }], /tokens_per_minute of upstream a/],
      [[{ name: "a", weight: -1 }], /weight of upstream a/],
      [[{ name: "a", circuit: { failures: 3, windowMs: 0, cooldownMs: 1 } }], /circuit.window_ms of upstream a/],
      [Array.from({ length: 17 }, (_, i) => ({ name: `u${i}` })), /at most 16 upstreams/],
    ];
    for (const [ups, message] of bad) {
      await expect(queue.dispatch("w", 1, 30_000, undefined, ups)).rejects.toThrow(message);
      await expect(queue.upstreams.snapshot(ups)).rejects.toThrow(message);
    }
    await expect(queue.upstreams.report({ name: "a" }, { kind: "fail", error: "Bad Label" })).rejects.toThrow(/error label/);
    expect(await dumpQueue(redis, queue)).toEqual(before);
  });
});
