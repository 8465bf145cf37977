import { testRedisUrl } from "@llmq/testkit";
import { type RedisConnection, type RunQueue, type ServiceTier, closeRedis, createRedis } from "../src";
import { testQueue } from "./run-queue-helpers";

/**
 * After any sequence of operations, the counts the run queue keeps equal what its sets hold, every
 * task is in exactly the structure its state says, and no task is lost or duplicated. Random sequences
 * from fixed seeds (a failure names its seed and step).
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

/** mulberry32: a small seeded generator, so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TENANTS = ["t0", "t1", "t2", "u:3"];
const TIERS: ServiceTier[] = ["priority", "default", "flex"];

async function checkInvariants(queue: RunQueue, present: ReadonlySet<string>, where: string): Promise<void> {
  const keys = queue.keys;
  const counts = await queue.counts();
  let waiting = 0;
  let batchWaiting = 0;
  const byTenant: Record<string, Partial<Record<ServiceTier, number>>> = {};
  const active = new Set(await redis.zrange(keys.tenants, "0", "-1"));
  const seen = new Set<string>();
  let activeWeight = 0;
  for (const tenant of TENANTS) {
    const ids = await redis.zrange(keys.tenantQueue(tenant), "0", "-1");
    waiting += ids.length;
    expect({ where, tenant, active: active.has(tenant) }).toEqual({ where, tenant, active: ids.length > 0 });
    if (ids.length > 0) activeWeight += Number((await redis.hget(keys.weights, `w:${tenant}`)) ?? 1);
    for (const id of ids) {
      const [st, te, ti, bt] = await redis.hmget(keys.task(id), "st", "te", "ti", "bt");
      if (bt === "1") batchWaiting++;
      expect({ where, id, st, te }).toEqual({ where, id, st: "w", te: tenant });
      const tiers = (byTenant[tenant] ??= {});
      tiers[ti as ServiceTier] = (tiers[ti as ServiceTier] ?? 0) + 1;
      seen.add(id);
    }
  }
  const leased = await redis.zrange(keys.leased, "0", "-1");
  for (const id of leased) {
    expect({ where, id, st: await redis.hget(keys.task(id), "st") }).toEqual({ where, id, st: "l" });
    expect(seen.has(id)).toBe(false);
    seen.add(id);
  }
  const dead = await redis.lrange(keys.dead, 0, -1);
  for (const id of dead) {
    expect({ where, id, st: await redis.hget(keys.task(id), "st") }).toEqual({ where, id, st: "d" });
    expect(seen.has(id)).toBe(false);
    seen.add(id);
  }
  expect({ where, counts }).toEqual({ where, counts: { waiting, leased: leased.length, delayed: 0, dead: dead.length, batchWaiting, waitingByTenant: byTenant } });
  // Nothing lost, nothing extra: exactly the tasks the sequence left in the queue.
  expect({ where, ids: [...seen].sort() }).toEqual({ where, ids: [...present].sort() });
  expect(Number((await redis.hget(keys.state, "aw")) ?? 0)).toBeCloseTo(activeWeight, 6);
}

test.each([1, 2, 3, 4, 5, 6])("counts equal the sum of the sets after a random sequence of operations (seed %i)", async (seed) => {
  const { queue, clock } = testQueue(redis);
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const present = new Set<string>();
  const leases = new Map<string, string>(); // id -> token of its current lease (as the queue's holder knows it)
  const stale = new Map<string, string>(); // id -> a token it no longer holds
  const ids: string[] = [];
  let serial = 0;
  const seen = { dispatched: 0, settled: 0, released: 0, withdrawn: 0, expired: 0 };
  for (let step = 0; step < 300; step++) {
    const roll = next();
    const where = `seed ${seed} step ${step}`;
    if (roll < 0.25) {
      const batch = Array.from({ length: 1 + Math.floor(next() * 6) }, () => {
        const reuse = ids.length > 0 && next() < 0.2;
        const id = reuse ? pick(ids) : `s${seed}-${++serial}`;
        return { id, tenant: pick(TENANTS), weight: 1 + Math.floor(next() * 3), tier: pick(TIERS), estimatedTokens: 1 + Math.floor(next() * 500), queueDeadline: null, requestCopy: null, batch: next() < 0.4 };
      });
      await queue.enqueueMany(batch);
      for (const entry of batch) {
        if (!ids.includes(entry.id)) ids.push(entry.id);
        present.add(entry.id);
      }
    } else if (roll < 0.45) {
      const room = next() < 0.3 ? Math.floor(next() * 8) : undefined;
      const { token, tasks } = await queue.dispatch("w", 1 + Math.floor(next() * 5), 2_000, room);
      seen.dispatched += tasks.length;
      for (const task of tasks) {
        const old = leases.get(task.id);
        if (old) stale.set(task.id, old);
        leases.set(task.id, token);
      }
    } else if (roll < 0.6 && leases.size > 0) {
      const id = pick([...leases.keys()]);
      const wrong = next() < 0.3;
      const token = wrong ? (stale.get(id) ?? "nobody") : leases.get(id)!;
      const settled = await queue.settle(id, token, Math.floor(next() * 800));
      if (settled) {
        seen.settled++;
        leases.delete(id);
        present.delete(id);
      }
      if (wrong) expect({ where, settled }).toEqual({ where, settled: false });
    } else if (roll < 0.7 && leases.size > 0) {
      const id = pick([...leases.keys()]);
      if (await queue.release(id, leases.get(id)!, { keepPlace: next() < 0.5 })) {
        seen.released++;
        stale.set(id, leases.get(id)!);
        leases.delete(id);
      }
    } else if (roll < 0.8 && ids.length > 0) {
      const id = pick(ids);
      const was = await queue.withdraw(id);
      if (was === "waiting" || was === "dead") {
        seen.withdrawn++;
        present.delete(id);
      }
      if (was !== "leased") leases.delete(id);
    } else if (roll < 0.85 && leases.size > 0) {
      const held = [...leases.entries()];
      const [, token] = pick(held);
      await queue.renew(held.filter(([, t]) => t === token).map(([id]) => id), token, 2_000);
    } else if (roll < 0.95) {
      clock.now += Math.floor(next() * 1_500);
      const { requeued, dead } = await queue.requeueExpired(next() < 0.5 ? 2 : 100);
      seen.expired += requeued + dead;
    } else {
      for (const id of await queue.takeDead(1 + Math.floor(next() * 3))) {
        present.delete(id);
        leases.delete(id);
      }
    }
    // A lease the queue took back (expired) is no longer held: the holder's token is stale.
    for (const [id, token] of [...leases]) {
      const state = await queue.state(id);
      if (state?.state !== "leased" || (await redis.hget(queue.keys.task(id), "tk")) !== token) {
        stale.set(id, token);
        leases.delete(id);
      }
    }
    if (step % 10 === 9) await checkInvariants(queue, present, where);
  }
  await checkInvariants(queue, present, `seed ${seed} end`);
  // The sequence went through every path (dispatches also re-queue expired leases, not counted here).
  for (const [path, times] of Object.entries(seen)) expect({ path, ran: times > 0 }).toEqual({ path, ran: true });
  // Drain: everything still waiting is dispatched exactly once, fairly or not.
  clock.now += 10_000;
  await queue.requeueExpired();
  const drained = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const { tasks } = await queue.dispatch("w", 100, 60_000);
    if (tasks.length === 0) break;
    for (const task of tasks) {
      expect(drained.has(task.id)).toBe(false);
      drained.add(task.id);
    }
  }
  const dead = await redis.lrange(queue.keys.dead, 0, -1);
  expect([...drained, ...dead].sort()).toEqual([...present].sort());
});
