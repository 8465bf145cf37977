import { testRedisUrl } from "@llmq/testkit";
import { type RedisConnection, type RunQueue, type UpstreamParams, type UpstreamReport, closeRedis, createRedis } from "../src";
import { entries, testQueue } from "./run-queue-helpers";
import { random } from "./upstreams-helpers";

/**
 * After any sequence of dispatches, settles, releases, failovers, reports and expired leases, every
 * concurrency slot an upstream counts belongs to a task leased on it (none leaked, none missing), no
 * upstream holds more than its max_concurrency, a half-open breaker's probe is a leased task of that
 * upstream, and no token bucket goes negative. Random sequences from fixed seeds (a failure names its
 * seed and step); at the end every task is served and every slot is free.
 */

let redis: RedisConnection;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
});

const UPS: UpstreamParams[] = [
  { name: "a", maxConcurrency: 3, tokensPerMinute: 3_000, circuit: { failures: 2, windowMs: 5_000, cooldownMs: 4_000 } },
  { name: "b", maxConcurrency: 2, requestsPerMinute: 30, quotaPauseMs: 3_000 },
  { name: "c", weight: 2, circuit: { failures: 3, windowMs: 10_000, cooldownMs: 2_000 } },
];
const REPORTS: UpstreamReport[] = [
  { kind: "ok", latencyMs: 50 },
  { kind: "fail", error: "server" },
  { kind: "rate_limited", retryAfterMs: 1_500 },
  { kind: "rate_limited" },
  { kind: "quota" },
];

async function checkInvariants(queue: RunQueue, where: string): Promise<void> {
  const base = queue.keys.base;
  const leased = await redis.zrange(queue.keys.leased, "0", "-1");
  const onUpstream: Record<string, string[]> = { a: [], b: [], c: [] };
  for (const id of leased) {
    const [st, up] = await redis.hmget(queue.keys.task(id), "st", "up");
    expect({ where, id, st }).toEqual({ where, id, st: "l" });
    if (up) onUpstream[up]!.push(id);
  }
  for (const u of UPS) {
    const slots = (await redis.zrange(`${base}u:${u.name}:in`, "0", "-1")).sort();
    expect({ where, upstream: u.name, slots }).toEqual({ where, upstream: u.name, slots: onUpstream[u.name]!.sort() });
    if (u.maxConcurrency) expect(slots.length).toBeLessThanOrEqual(u.maxConcurrency);
    const probe = await redis.hget(`${base}u:${u.name}`, "pr");
    if (probe) {
      const [st, up, upr] = await redis.hmget(queue.keys.task(probe), "st", "up", "upr");
      expect({ where, probe, st, up, upr }).toEqual({ where, probe, st: "l", up: u.name, upr: "1" });
    }
    for (const v of Object.values(await redis.hgetall(`${base}u:${u.name}:tv`))) expect(Number(v)).toBeGreaterThanOrEqual(0);
  }
}

test.each([1, 2, 3, 4])("slots, probes and token buckets stay consistent under random operations (seed %i)", async (seed) => {
  const { queue, clock } = testQueue(redis);
  const rnd = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const held = new Map<string, { token: string; upstream: string | null }>();
  const ran: Record<string, number> = {};
  let total = 0;
  for (let step = 0; step < 300; step++) {
    const op = pick(["enqueue", "dispatch", "dispatch", "settle", "release", "reserve", "report", "clock"] as const);
    ran[op] = (ran[op] ?? 0) + 1;
    const ids = [...held.keys()];
    if (op === "enqueue") {
      const added = entries(pick(["x", "y"]), 1 + Math.floor(rnd() * 4), { est: 50 + Math.floor(rnd() * 450) });
      total += added.length;
      await queue.enqueueMany(added);
    } else if (op === "dispatch") {
      const d = await queue.dispatch("w", 1 + Math.floor(rnd() * 4), 30_000, undefined, UPS);
      for (const t of d.tasks) held.set(t.id, { token: d.token, upstream: t.upstream });
    } else if (op === "settle" && ids.length > 0) {
      const id = pick(ids);
      await queue.settle(id, held.get(id)!.token, Math.floor(rnd() * 600)); // false if its lease expired meanwhile
      held.delete(id);
    } else if (op === "release" && ids.length > 0) {
      const id = pick(ids);
      await queue.release(id, held.get(id)!.token, { keepPlace: rnd() < 0.5 });
      held.delete(id);
    } else if (op === "reserve" && ids.length > 0) {
      const id = pick(ids);
      const h = held.get(id)!;
      const r = await queue.upstreams.reserve(id, h.token, h.upstream && rnd() < 0.8 ? [h.upstream] : [], UPS);
      if (r.upstream === null && r.lost) held.delete(id);
      else h.upstream = r.upstream;
    } else if (op === "report") {
      await queue.upstreams.report(pick(UPS), pick(REPORTS));
    } else if (op === "clock") {
      clock.now += Math.floor(rnd() * 12_000);
    }
    if (step % 5 === 4) await checkInvariants(queue, `seed ${seed} step ${step} after ${op}`);
  }
  expect(Object.keys(ran).sort()).toEqual(["clock", "dispatch", "enqueue", "release", "report", "reserve", "settle"]);
  // Drain: settle what is held, then serve the rest as upstreams recover (their pauses and cooldowns end).
  for (const [id, h] of held) await queue.settle(id, h.token, 100);
  let served = 0;
  for (let round = 0; round < 500 && (await queue.counts()).waiting + (await queue.counts()).leased > 0; round++) {
    clock.now += 1_000;
    const d = await queue.dispatch("w", 10, 30_000, undefined, UPS);
    for (const t of d.tasks) {
      await queue.upstreams.report(UPS.find((u) => u.name === t.upstream)!, { kind: "ok" });
      if (await queue.settle(t.id, d.token, 100)) served++;
    }
  }
  await checkInvariants(queue, `seed ${seed} drained`);
  expect((await queue.counts()).waiting).toBe(0);
  expect(served).toBeGreaterThan(0);
  for (const u of UPS) {
    expect(await redis.zcard(`${queue.keys.base}u:${u.name}:in`)).toBe(0);
    expect((await redis.hget(`${queue.keys.base}u:${u.name}`, "pr")) ?? "").toBe("");
  }
});
