import type { RunQueueEntry, UpstreamParams } from "../src";
import { twoQueues } from "./borrow-helpers";
import { costSuiteRedis } from "./redis-commands";

/**
 * What the fallback calls cost Redis (issue 16, borrow): the commands each runs, counted in INFO
 * commandstats on a Redis of this suite's own (as upstreams-cost.test.ts does). Bounded whatever the
 * model's line: the same with 30 or 5,000 tasks waiting, every one of them with a queue deadline inside
 * the rescue's window (the deadline index answers the first few without reading the rest).
 */

const { redis: suiteRedis, commandsDuring } = costSuiteRedis();

const limits = { maxConcurrency: 1_000, requestsPerMinute: 100_000, tokensPerMinute: 10_000_000, circuit: { failures: 5, windowMs: 60_000, cooldownMs: 30_000 } };
const A_UPS: UpstreamParams[] = [
  { name: "a1", ...limits },
  { name: "a2", ...limits },
];
const B_UPS: UpstreamParams[] = [
  { name: "b1", weight: 3, ...limits },
  { name: "b2", weight: 1, ...limits },
];

let serial = 0;
/** `n` tasks of one tenant, each due within the next 10 s. */
function dueEntries(tenant: string, n: number, now: number): RunQueueEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${tenant}-${++serial}`,
    tenant,
    weight: 1,
    tier: "default" as const,
    estimatedTokens: 100,
    queueDeadline: now + 1_000 + (i % 9_000),
    requestCopy: null,
  }));
}

test.each([30, 5_000])("each fallback call runs a bounded number of commands, with %i tasks waiting (all due soon)", async (waiting) => {
  const { a, b, clock } = twoQueues(suiteRedis());
  await a.enqueueMany(dueEntries("big", waiting, clock.now));
  const cost: Record<string, number> = {};
  const ten = dueEntries("big", 10, clock.now);
  cost.enqueue10WithDeadline = await commandsDuring(() => a.enqueueMany(ten));
  await a.dispatch("w", 1, 30_000, undefined, A_UPS); // seeds the upstreams' hashes
  cost.dispatch1WithDeadline = await commandsDuring(() => a.dispatch("w", 1, 30_000, undefined, A_UPS));
  cost.dispatch10WithDeadline = await commandsDuring(() => a.dispatch("w", 10, 30_000, undefined, A_UPS));
  cost.dueSoon10 = await commandsDuring(() => a.borrows.dueSoon(10_000, 10));
  // The lender's side, on B (nothing of its own waiting).
  await b.borrows.borrow("w", 100, 30_000, B_UPS, { origin: "a" }).then((g) => g.status === "granted" && b.borrows.release(g.holder, g.token));
  let borrow = await b.borrows.borrow("w", 100, 30_000, B_UPS, { origin: "a" });
  cost.borrow = await commandsDuring(async () => (borrow = await b.borrows.borrow("w", 100, 30_000, B_UPS, { origin: "a" })));
  if (borrow.status !== "granted") throw new Error("borrow not granted");
  const g = borrow;
  cost.renewBorrow = await commandsDuring(() => b.borrows.renew(g.holder, g.token, 30_000));
  cost.settleBorrow = await commandsDuring(() => b.borrows.settle(g.holder, g.token, 80));
  const r = await b.borrows.borrow("w", 100, 30_000, B_UPS, { origin: "a" });
  if (r.status !== "granted") throw new Error("borrow not granted");
  cost.releaseBorrow = await commandsDuring(() => b.borrows.release(r.holder, r.token));
  // The borrower's side, on A, its upstreams paused.
  for (const up of A_UPS) await a.upstreams.report(up, { kind: "rate_limited", retryAfterMs: 60_000 });
  cost.dispatchBlockedUnavailable = await commandsDuring(() => a.dispatch("w", 1, 30_000, undefined, A_UPS));
  cost.leaseHead = await commandsDuring(() => a.borrows.lease("w", 30_000, { head: { maxEstimatedTokens: 100 } }, "b/b1"));
  const [due] = await a.borrows.dueSoon(10_000, 1);
  cost.leaseId = await commandsDuring(() => a.borrows.lease("w", 30_000, { id: due!.id }, "b/b1"));
  // B busy (its own task waiting): refused early.
  await b.enqueueMany(dueEntries("own", 1, clock.now));
  cost.borrowBusy = await commandsDuring(() => b.borrows.borrow("w", 100, 30_000, B_UPS, { origin: "a" }));
  // B full by an expired borrow: its blocked dispatch frees it and leases.
  const full: UpstreamParams[] = [{ name: "b3", maxConcurrency: 1 }];
  await b.dispatch("wb", 1, 30_000, undefined, full).then((d) => b.settle(d.tasks[0]!.id, d.token, 100));
  await b.borrows.borrow("w", 100, 1_000, full, { origin: "a" });
  await b.enqueueMany(dueEntries("own", 1, clock.now));
  clock.now += 1_000;
  let freed = 0;
  cost.dispatchFreeingExpiredBorrow = await commandsDuring(async () => (freed = (await b.dispatch("wb", 1, 30_000, undefined, full)).tasks.length));
  expect(freed).toBe(1);
  process.stdout.write(`fallback commands per call with ${waiting} waiting: ${JSON.stringify(cost)}\n`);
  // The run queue's enqueue is ~9 a task and its dispatch ~13 a task (run-queue-cost.test.ts): a queue
  // deadline adds one ZADD at enqueue and one ZREM at dispatch.
  expect(cost.enqueue10WithDeadline / 10).toBeLessThanOrEqual(12 + 1);
  expect(cost.dispatch10WithDeadline / 10).toBeLessThanOrEqual(17 + 1);
  expect(cost.dueSoon10).toBeLessThanOrEqual(1 + 10);
  expect(cost.borrow).toBeLessThanOrEqual(30);
  expect(cost.renewBorrow).toBeLessThanOrEqual(3);
  expect(cost.settleBorrow).toBeLessThanOrEqual(10);
  expect(cost.releaseBorrow).toBeLessThanOrEqual(10);
  expect(cost.leaseHead).toBeLessThanOrEqual(22);
  expect(cost.leaseId).toBeLessThanOrEqual(22);
  expect(cost.borrowBusy).toBeLessThanOrEqual(6);
  // Blocked on two paused upstreams with breakers (upstreams-cost.test.ts: 16 for one).
  expect(cost.dispatchBlockedUnavailable).toBeLessThanOrEqual(24);
  // Blocked by a slot an expired borrow held: +1 to find it, the upstream read again, then the lease.
  expect(cost.dispatchFreeingExpiredBorrow).toBeLessThanOrEqual(36);
  (globalThis as { borrowCosts?: Record<number, Record<string, number>> }).borrowCosts ??= {};
  (globalThis as { borrowCosts?: Record<number, Record<string, number>> }).borrowCosts![waiting] = cost;
});

test("the same calls cost the same with 30 and 5,000 waiting", () => {
  const costs = (globalThis as { borrowCosts?: Record<number, Record<string, number>> }).borrowCosts!;
  expect(costs[5_000]).toEqual(costs[30]);
});
