import { costSuiteRedis } from "./redis-commands";
import { entries, testQueue } from "./run-queue-helpers";

/**
 * What each run-queue call costs Redis: the commands its script runs (INFO commandstats on a Redis of
 * this suite's own, so no other suite's commands count). The bounds hold whatever the queue's length:
 * the same call on a line of 10 and of 5,000 runs the same commands. Figures go to docs later (issue 16).
 */

const { redis: suiteRedis, commandsDuring } = costSuiteRedis();

test.each([10, 5_000])("each call runs a bounded number of commands, with %i tasks waiting", async (waiting) => {
  const { queue, clock } = testQueue(suiteRedis());
  await queue.enqueueMany(entries("big", waiting));
  const cost: Record<string, number> = {};
  const [one] = entries("small", 1);
  cost.enqueueNewTenant = await commandsDuring(() => queue.enqueueMany([one!]));
  const ten = entries("big", 10);
  cost.enqueue10 = await commandsDuring(() => queue.enqueueMany(ten));
  let leased = { token: "", leaseUntil: 0, tasks: [] as { id: string }[] };
  cost.dispatch1 = await commandsDuring(async () => (leased = await queue.dispatch("w", 1, 1_000)));
  const first = leased;
  cost.dispatch10 = await commandsDuring(async () => (leased = await queue.dispatch("w", 10, 1_000)));
  cost.settle = await commandsDuring(() => queue.settle(first.tasks[0]!.id, first.token, 50));
  cost.renew10 = await commandsDuring(() => queue.renew(leased.tasks.map((t) => t.id), leased.token, 1_000));
  cost.release = await commandsDuring(() => queue.release(leased.tasks[0]!.id, leased.token, { keepPlace: true }));
  cost.place = await commandsDuring(() => queue.place(ten[5]!.id));
  cost.withdraw = await commandsDuring(() => queue.withdraw(ten[6]!.id));
  cost.counts = await commandsDuring(() => queue.counts());
  cost.state = await commandsDuring(() => queue.state(ten[7]!.id));
  clock.now += 5_000;
  cost.requeueExpired9 = await commandsDuring(() => queue.requeueExpired());
  cost.dispatch1Idle = await commandsDuring(() => queue.dispatch("w", 1, 1_000, 0));
  // Per call; per task where the call carries several.
  expect(cost).toEqual({
    enqueueNewTenant: expect.any(Number),
    enqueue10: expect.any(Number),
    dispatch1: expect.any(Number),
    dispatch10: expect.any(Number),
    settle: expect.any(Number),
    renew10: expect.any(Number),
    release: expect.any(Number),
    place: expect.any(Number),
    withdraw: expect.any(Number),
    counts: 1,
    state: 1,
    requeueExpired9: expect.any(Number),
    dispatch1Idle: expect.any(Number),
  });
  process.stdout.write(`run queue commands per call with ${waiting} waiting: ${JSON.stringify(cost)}\n`);
  expect(cost.enqueueNewTenant).toBeLessThanOrEqual(20);
  // Two commands per entry (is it there, its hash); the stamp, the tenant's line, weight and counts once a
  // call: 28 for ten entries of one tenant (about 100 when every entry did all of it).
  expect(cost.enqueue10 / 10).toBeLessThanOrEqual(3);
  // Wiring added to every dispatch: due retries promoted (1), the pause flag (1), the wake marker for
  // other loops when work is left (2): 18 -> 22.
  expect(cost.dispatch1).toBeLessThanOrEqual(22);
  expect(cost.dispatch10 / 10).toBeLessThanOrEqual(14);
  // Issue 16 (depth): a settle that frees a lease while tasks wait wakes a blocked loop (the active
  // tenants' ZCARD, the marker's ZADD): 10 -> 12.
  expect(cost.settle).toBeLessThanOrEqual(12);
  expect(cost.renew10 / 10).toBeLessThanOrEqual(4);
  expect(cost.release).toBeLessThanOrEqual(20);
  expect(cost.place).toBeLessThanOrEqual(8);
  expect(cost.withdraw).toBeLessThanOrEqual(12);
  expect(cost.requeueExpired9 / 9).toBeLessThanOrEqual(16);
  // Wiring: due retries (1), the pause flag (1), and when the next thing falls due (2) for the idle wait: 2 -> 6.
  expect(cost.dispatch1Idle).toBeLessThanOrEqual(6);
});
