import { ARRIVAL_MARGIN_MS, type UpstreamParams } from "../src";
import { costSuiteRedis } from "./redis-commands";
import { entries, testQueue } from "./run-queue-helpers";

/**
 * What the upstream scripts cost Redis (issue 16, part 2): the commands each call runs, counted in INFO
 * commandstats on a Redis of this suite's own (as run-queue-cost.test.ts does). Bounded whatever the
 * line's length or the window's size: the same with 30 or 5,000 tasks waiting, and 1,000 reservations
 * spread over 100 s cost no more than one (the TPM window holds at most 61 one-second buckets).
 */

const { redis: suiteRedis, commandsDuring } = costSuiteRedis();

const limits = { maxConcurrency: 1_000, requestsPerMinute: 100_000, tokensPerMinute: 10_000_000, circuit: { failures: 5, windowMs: 60_000, cooldownMs: 30_000 } };
const UPS: UpstreamParams[] = [
  { name: "a", weight: 3, ...limits },
  { name: "b", weight: 1, ...limits },
];

test.each([30, 5_000])("each upstream call runs a bounded number of commands, with %i tasks waiting", async (waiting) => {
  const { queue } = testQueue(suiteRedis());
  await queue.enqueueMany(entries("big", waiting));
  const cost: Record<string, number> = {};
  let d = await queue.dispatch("w", 1, 30_000, undefined, UPS); // the first call seeds the upstreams' hashes
  cost.dispatch1 = await commandsDuring(async () => (d = await queue.dispatch("w", 1, 30_000, undefined, UPS)));
  const one = d;
  cost.dispatch10 = await commandsDuring(async () => (d = await queue.dispatch("w", 10, 30_000, undefined, UPS)));
  cost.reserve = await commandsDuring(() => queue.upstreams.reserve(one.tasks[0]!.id, one.token, [one.tasks[0]!.upstream!], UPS));
  cost.settle = await commandsDuring(() => queue.settle(one.tasks[0]!.id, one.token, 50));
  cost.release = await commandsDuring(() => queue.release(d.tasks[0]!.id, d.token, { keepPlace: true }));
  cost.reportOk = await commandsDuring(() => queue.upstreams.report(UPS[0]!, { kind: "ok", latencyMs: 120 }));
  cost.reportFail = await commandsDuring(() => queue.upstreams.report(UPS[0]!, { kind: "fail", error: "timeout" }));
  cost.reportRateLimited = await commandsDuring(() => queue.upstreams.report(UPS[1]!, { kind: "rate_limited" }));
  cost.reportQuota = await commandsDuring(() => queue.upstreams.report(UPS[1]!, { kind: "quota" }));
  cost.dispatchBlocked = await commandsDuring(() => queue.dispatch("w", 10, 30_000, undefined, [UPS[1]!]));
  cost.snapshot2 = await commandsDuring(() => queue.upstreams.snapshot(UPS));
  process.stdout.write(`upstream commands per call (2 upstreams) with ${waiting} waiting: ${JSON.stringify(cost)}\n`);
  // The run queue's own dispatch is 22 for one task and ~13 a task for ten (run-queue-cost.test.ts: 18
  // before the wiring added due retries, the pause flag and the wake marker, +4); the upstreams add <= 14.
  expect(cost.dispatch1).toBeLessThanOrEqual(22 + 14);
  expect(cost.dispatch10 / 10).toBeLessThanOrEqual(12 + 5);
  expect(cost.reserve).toBeLessThanOrEqual(20);
  // Issue 16 (depth): the settle's wake of a blocked loop when tasks wait (ZCARD, ZADD): 14 -> 16.
  expect(cost.settle).toBeLessThanOrEqual(16);
  expect(cost.release).toBeLessThanOrEqual(20);
  expect(cost.reportOk).toBeLessThanOrEqual(5);
  expect(cost.reportFail).toBeLessThanOrEqual(10);
  expect(cost.reportRateLimited).toBeLessThanOrEqual(8);
  expect(cost.reportQuota).toBeLessThanOrEqual(8);
  // 12 for the upstreams' part, + the wiring's 4 on every dispatch that leases nothing (due retries, the
  // pause flag, and when the next thing falls due: run-queue-cost.test.ts's dispatch1Idle, 2 -> 6).
  expect(cost.dispatchBlocked).toBeLessThanOrEqual(12 + 4);
  expect(cost.snapshot2 / 2).toBeLessThanOrEqual(14);
  (globalThis as { upstreamCosts?: Record<number, Record<string, number>> }).upstreamCosts ??= {};
  (globalThis as { upstreamCosts?: Record<number, Record<string, number>> }).upstreamCosts![waiting] = cost;
});

test("the same calls cost the same with 30 and 5,000 waiting", () => {
  const costs = (globalThis as { upstreamCosts?: Record<number, Record<string, number>> }).upstreamCosts!;
  expect(costs[5_000]).toEqual(costs[30]);
});

test("1,000 reservations over 100 s: a dispatch past them costs what one does, and the window's sums stay exact", async () => {
  const { queue, clock } = testQueue(suiteRedis());
  const up: UpstreamParams[] = [{ name: "a", requestsPerMinute: 100_000, tokensPerMinute: 10_000_000 }];
  await queue.enqueueMany(entries("t", 1_010));
  for (let i = 0; i < 1_000; i++) {
    const d = await queue.dispatch("w", 1, 30_000, undefined, up);
    await queue.settle(d.tasks[0]!.id, d.token, 100);
    clock.now += 100;
  }
  // Requests count for a minute and the arrival margin: those started in (now - 61 s, now], 609 exactly.
  // Tokens count by 1 s buckets, which leave with their last millisecond: the bucket of the 610th-last (at
  // exactly now - 61 s) still counts.
  const margin = ARRIVAL_MARGIN_MS / 100;
  expect((await queue.upstreams.snapshot(up))[0]).toMatchObject({ tokensMinute: 60_000 + margin * 100, requestsMinute: 599 + margin });
  clock.now += 61_000 + ARRIVAL_MARGIN_MS;
  const cost = await commandsDuring(() => queue.dispatch("w", 1, 30_000, undefined, up));
  process.stdout.write(`dispatch of 1 after 1,000 reservations over 100 s: ${cost} commands\n`);
  expect(cost).toBeLessThanOrEqual(18 + 12);
  const [snap] = await queue.upstreams.snapshot(up);
  expect(snap).toMatchObject({ tokensMinute: 100, requestsMinute: 1 });
  expect(await suiteRedis().zcard(`${queue.keys.base}u:a:tk`)).toBe(1);
});
