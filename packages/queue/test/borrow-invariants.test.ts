import { testRedisUrl } from "@llmq/testkit";
import { type RedisConnection, type RunQueue, type RunQueueEntry, type UpstreamParams, type UpstreamReport, closeRedis, createRedis } from "../src";
import { twoQueues } from "./borrow-helpers";
import { random } from "./upstreams-helpers";

/**
 * After any sequence of dispatches, borrows (granted, used, released, settled, renewed, left to expire
 * as a dead worker leaves them), leases for a borrow (fair head or rescued id), withdrawals, reports and
 * clock steps on a model and its fallback: the deadline index holds exactly the waiting tasks with a
 * deadline; each upstream's slots are exactly its leased tasks and live borrows (a task leased for a
 * borrow holds none of its own model's); every borrow hash has its lease and the other way round; the
 * counts equal the sets. Fixed seeds (a failure names its seed and step); drained at the end.
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

const A_UPS: UpstreamParams[] = [
  { name: "a1", maxConcurrency: 3, circuit: { failures: 2, windowMs: 5_000, cooldownMs: 4_000 } },
  { name: "a2", maxConcurrency: 2, tokensPerMinute: 4_000, quotaPauseMs: 10_000 },
];
const B_UPS: UpstreamParams[] = [
  { name: "b1", maxConcurrency: 2, tokensPerMinute: 3_000, quotaPauseMs: 3_000, circuit: { failures: 2, windowMs: 5_000, cooldownMs: 3_000 } },
  { name: "b2", maxConcurrency: 1, requestsPerMinute: 20, quotaPauseMs: 3_000 },
];
const REPORTS: UpstreamReport[] = [{ kind: "ok", latencyMs: 40 }, { kind: "fail", error: "server" }, { kind: "rate_limited", retryAfterMs: 2_000 }, { kind: "quota" }];

async function checkQueue(queue: RunQueue, ups: readonly UpstreamParams[], where: string): Promise<void> {
  const base = queue.keys.base;
  // Waiting tasks (by their tenants' lines) and the deadline index.
  const waitingWithDeadline: string[] = [];
  let waiting = 0;
  for (const tenant of await redis.zrange(queue.keys.tenants, "0", "-1")) {
    for (const id of await redis.zrange(queue.keys.tenantQueue(tenant), "0", "-1")) {
      waiting++;
      const [st, dl] = await redis.hmget(queue.keys.task(id), "st", "dl");
      expect({ where, id, st }).toEqual({ where, id, st: "w" });
      if (dl) waitingWithDeadline.push(id);
    }
  }
  expect({ where, index: (await redis.zrange(`${base}dl`, "0", "-1")).sort() }).toEqual({ where, index: waitingWithDeadline.sort() });
  const counts = await queue.counts();
  const leased = await redis.zrange(queue.keys.leased, "0", "-1");
  expect({ where, waiting: counts.waiting, leased: counts.leased }).toEqual({ where, waiting, leased: leased.length });
  // Slots: leased tasks with an upstream, and live borrows.
  const holders: Record<string, string[]> = Object.fromEntries(ups.map((u) => [u.name, []]));
  for (const id of leased) {
    const [st, up, bo] = await redis.hmget(queue.keys.task(id), "st", "up", "bo");
    expect({ where, id, st }).toEqual({ where, id, st: "l" });
    if (bo) expect({ where, id, up }).toEqual({ where, id, up: null });
    if (up) holders[up]!.push(id);
  }
  const borrows = await redis.zrange(`${base}bl`, "0", "-1");
  for (const holder of borrows) {
    const [tk, up] = await redis.hmget(`${base}${holder}`, "tk", "up");
    expect({ where, holder, tk: typeof tk }).toEqual({ where, holder, tk: "string" });
    holders[up!]!.push(holder);
  }
  const hashes = (await redis.keys(`${base.replace(/[{}]/g, "\\$&")}b:*`)).map((k) => k.slice(base.length));
  expect({ where, hashes: hashes.sort() }).toEqual({ where, hashes: [...borrows].sort() });
  for (const u of ups) {
    const slots = (await redis.zrange(`${base}u:${u.name}:in`, "0", "-1")).sort();
    expect({ where, upstream: u.name, slots }).toEqual({ where, upstream: u.name, slots: holders[u.name]!.sort() });
    if (u.maxConcurrency) expect(slots.length).toBeLessThanOrEqual(u.maxConcurrency);
    for (const v of Object.values(await redis.hgetall(`${base}u:${u.name}:tv`))) expect(Number(v)).toBeGreaterThanOrEqual(0);
  }
}

test.each([1, 2, 3, 4])("indexes, slots and borrows stay consistent on a model and its fallback under random operations (seed %i)", async (seed) => {
  const { a, b, clock } = twoQueues(redis);
  const rnd = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  let serial = 0;
  const make = (tenant: string, n: number): RunQueueEntry[] =>
    Array.from({ length: n }, () => ({
      id: `${tenant}-${++serial}`,
      tenant,
      weight: 1,
      tier: pick(["priority", "default", "flex"] as const),
      estimatedTokens: 50 + Math.floor(rnd() * 400),
      queueDeadline: rnd() < 0.6 ? clock.now + Math.floor(rnd() * 30_000) : null,
      requestCopy: null,
    }));
  // What the workers hold: tasks of A and B by lease token, borrows on B by holder.
  const heldA = new Map<string, string>();
  const heldB = new Map<string, string>();
  const borrows = new Map<string, string>();
  const ran: Record<string, number> = {};
  const seen = { headLeases: 0, rescues: 0, diedBetween: 0, granted: 0, refused: 0 };
  for (let step = 0; step < 400; step++) {
    const op = pick(["enqueueA", "enqueueA", "enqueueB", "dispatchA", "dispatchB", "dispatchB", "borrow", "borrow", "borrow", "settle", "settle", "settle", "release", "withdraw", "report", "clock", "renew"] as const);
    ran[op] = (ran[op] ?? 0) + 1;
    if (op === "enqueueA" || op === "enqueueB") {
      await (op === "enqueueA" ? a : b).enqueueMany(make(pick(["x", "y", "z"]), op === "enqueueA" ? 1 + Math.floor(rnd() * 3) : 1));
    } else if (op === "dispatchA" || op === "dispatchB") {
      const [queue, ups, held] = op === "dispatchA" ? [a, A_UPS, heldA] : [b, B_UPS, heldB];
      // The fallback's own tasks are short: what it runs ends before it dispatches again.
      if (op === "dispatchB") for (const [id, token] of heldB) await b.settle(id, token, 100);
      if (op === "dispatchB") heldB.clear();
      const d = await queue.dispatch("w", 1 + Math.floor(rnd() * 4), 20_000, undefined, ups);
      for (const t of d.tasks) held.set(t.id, d.token);
    } else if (op === "borrow") {
      // For the fair head of A (when A is blocked), or a task due soon; now and then the worker dies between the steps.
      const due = rnd() < 0.5 ? (await a.borrows.dueSoon(10_000, 1))[0] : undefined;
      const d = due ? null : await a.dispatch("w", 1, 20_000, undefined, A_UPS);
      for (const t of d?.tasks ?? []) heldA.set(t.id, d!.token);
      const est = due?.estimatedTokens ?? d?.blockedHead?.estimatedTokens;
      if (est === undefined) continue;
      const g = await b.borrows.borrow("w", est, 20_000, B_UPS, { origin: "a", exclude: rnd() < 0.2 ? [pick(B_UPS).name] : [] });
      if (g.status !== "granted") {
        seen.refused++;
        (seen as Record<string, number>)[g.status] = ((seen as Record<string, number>)[g.status] ?? 0) + 1;
        continue;
      }
      seen.granted++;
      if (rnd() < 0.3) {
        seen.diedBetween++; // died after BORROW: the borrow is left to expire
        continue;
      }
      const l = await a.borrows.lease("w", 20_000, due ? { id: due.id } : { head: { maxEstimatedTokens: est } }, `b/${g.upstream}`);
      if (l.status === "leased") {
        heldA.set(l.task.id, l.token);
        borrows.set(g.holder, g.token);
        if (due) seen.rescues++;
        else seen.headLeases++;
      } else expect(await b.borrows.release(g.holder, g.token)).toBe(true);
    } else if (op === "settle" || op === "release") {
      const side = pick(["a", "b", "borrow"] as const);
      if (side === "borrow" && borrows.size > 0) {
        const holder = pick([...borrows.keys()]);
        if (op === "settle") await b.borrows.settle(holder, borrows.get(holder)!, Math.floor(rnd() * 500));
        else await b.borrows.release(holder, borrows.get(holder)!);
        borrows.delete(holder);
      } else if (side !== "borrow") {
        const [queue, held] = side === "a" ? [a, heldA] : [b, heldB];
        if (held.size === 0) continue;
        const id = pick([...held.keys()]);
        if (op === "settle") await queue.settle(id, held.get(id)!, Math.floor(rnd() * 500));
        else await queue.release(id, held.get(id)!, { keepPlace: rnd() < 0.5 });
        held.delete(id);
      }
    } else if (op === "withdraw") {
      const [due] = await a.borrows.dueSoon(30_000, 1);
      if (due) await a.withdraw(due.id);
    } else if (op === "report") {
      if (rnd() < 0.5) await a.upstreams.report(pick(A_UPS), pick(REPORTS));
      else await b.upstreams.report(pick(B_UPS), pick(REPORTS));
    } else if (op === "renew") {
      for (const [holder, token] of borrows) await b.borrows.renew(holder, token, 20_000);
      const ids = [...heldA.keys()];
      for (const id of ids) await a.renew([id], heldA.get(id)!, 20_000);
    } else if (op === "clock") {
      clock.now += Math.floor(rnd() * 15_000);
      if (rnd() < 0.5) await a.requeueExpired();
      else await b.requeueExpired();
    }
    if (step % 5 === 4) {
      await checkQueue(a, A_UPS, `seed ${seed} step ${step} after ${op} (model)`);
      await checkQueue(b, B_UPS, `seed ${seed} step ${step} after ${op} (fallback)`);
    }
  }
  expect(Object.keys(ran).length).toBe(11);
  process.stdout.write(`seed ${seed}: ${JSON.stringify(seen)}\n`);
  expect(seen.headLeases).toBeGreaterThan(0);
  expect(seen.rescues).toBeGreaterThan(0);
  expect(seen.diedBetween).toBeGreaterThan(0);
  // Drain: every lease and borrow ends; A's and B's work is served as pauses and cooldowns end.
  clock.now += 120_000;
  for (const queue of [a, b]) await queue.requeueExpired();
  for (let round = 0; round < 200; round++) {
    const left = (await a.counts()).waiting + (await b.counts()).waiting;
    if (left === 0) break;
    clock.now += 5_000;
    for (const [queue, ups] of [[a, A_UPS], [b, B_UPS]] as const) {
      const d = await queue.dispatch("w", 10, 20_000, undefined, ups);
      for (const t of d.tasks) {
        await queue.upstreams.report(ups.find((u) => u.name === t.upstream)!, { kind: "ok" });
        await queue.settle(t.id, d.token, 100);
      }
    }
  }
  await checkQueue(a, A_UPS, `seed ${seed} drained (model)`);
  await checkQueue(b, B_UPS, `seed ${seed} drained (fallback)`);
  expect((await a.counts()).waiting + (await b.counts()).waiting).toBe(0);
  expect(await redis.zcard(`${a.keys.base}dl`)).toBe(0);
  expect(await redis.zcard(`${b.keys.base}bl`)).toBe(0);
});
