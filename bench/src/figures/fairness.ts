import autocannon from "autocannon";
import type { BenchConfig } from "../config";
import { type Row, row } from "../report";
import { type BenchStack, FAIR_MODEL } from "../stack";
import { medians, quantile, sleep } from "../stats";

const body = (content: string) => ({ messages: [{ role: "user", content }], configs: { model: FAIR_MODEL, max_tokens: 4, temperature: 0 } });

/** A key of a new user of its own (a tenant), made with the admin key as an operator would. */
async function createKey(stack: BenchStack, name: string): Promise<{ id: string; key: string }> {
  const res = await fetch(`${stack.apiUrl}/v1/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 201) throw new Error(`creating key ${name} answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: { data: { id: string; key: string } } }).data.data;
}

/** Tenant A's flood: `count` submits as fast as 64 connections send them. */
async function flood(stack: BenchStack, key: string, count: number): Promise<void> {
  const result = await autocannon({
    url: `${stack.apiUrl}/v1/ai/text_completion?async=true`,
    method: "POST",
    connections: 64,
    amount: count,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body("flood")),
  });
  if (result.non2xx + result.errors > 0) throw new Error(`fairness flood: ${result.non2xx} non-2xx, ${result.errors} errors`);
}

/** Tenant B: one submit every `intervalMs` (on a fixed schedule, not one after the other's answer). */
async function trickle(stack: BenchStack, key: string, count: number, intervalMs: number): Promise<void> {
  const started = Date.now();
  const sent: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + i * intervalMs - Date.now();
    if (due > 0) await sleep(due);
    sent.push(
      fetch(`${stack.apiUrl}/v1/ai/text_completion?async=true`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body(`small ${i}`)),
      }).then(async (res) => {
        if (res.status !== 202) throw new Error(`fairness: tenant B's submit answered ${res.status}`);
        await res.arrayBuffer();
      }),
    );
  }
  await Promise.all(sent);
}

async function dbNow(stack: BenchStack): Promise<Date> {
  return (await stack.pg.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
}

/** Waits until `count` tasks of the fair model created since `since` are final; fails if any did not complete. */
async function waitFinal(stack: BenchStack, since: Date, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await stack.pg.query<{ done: string; failed: string }>(
      "SELECT count(*) FILTER (WHERE status IN ('COMPLETED','FAILED','CANCELLED','EXPIRED')) AS done, count(*) FILTER (WHERE status <> 'COMPLETED') AS failed FROM tasks WHERE model = $1 AND created_at >= $2",
      [FAIR_MODEL, since],
    );
    if (Number(rows[0]!.done) >= count) {
      if (Number(rows[0]!.failed) > 0) throw new Error(`fairness: ${rows[0]!.failed} of ${count} tasks did not complete`);
      return;
    }
    await sleep(100);
  }
  throw new Error(`fairness: ${count} tasks did not finish within ${Math.round(timeoutMs / 1000)} s`);
}

/** Queue wait (`started_at - created_at`, ms) of the fair model's tasks since `since`, per key; and the served rate. */
async function waits(stack: BenchStack, since: Date): Promise<{ byKey: Map<string, number[]>; perSecond: number }> {
  const { rows } = await stack.pg.query<{ key: string; wait_ms: number; started: Date; completed: Date }>(
    `SELECT api_key_id::text AS key, extract(epoch FROM started_at - created_at)::float8 * 1000 AS wait_ms, started_at AS started, completed_at AS completed
       FROM tasks WHERE model = $1 AND created_at >= $2 AND status = 'COMPLETED'`,
    [FAIR_MODEL, since],
  );
  const byKey = new Map<string, number[]>();
  for (const r of rows) (byKey.get(r.key) ?? byKey.set(r.key, []).get(r.key)!).push(r.wait_ms);
  const first = Math.min(...rows.map((r) => r.started.getTime()));
  const last = Math.max(...rows.map((r) => r.completed.getTime()));
  return { byKey, perSecond: rows.length / Math.max(0.001, (last - first) / 1000) };
}

/** B alone on an idle model: its queue wait with nobody else waiting. */
async function alone(stack: BenchStack, small: { id: string; key: string }, count: number, intervalMs: number) {
  const since = await dbNow(stack);
  await trickle(stack, small.key, count, intervalMs);
  await waitFinal(stack, since, count, 120_000);
  const b = (await waits(stack, since)).byKey.get(small.id) ?? [];
  if (b.length !== count) throw new Error(`fairness: ${b.length} of B's ${count} tasks found`);
  return { p50: quantile(b, 0.5), p99: quantile(b, 0.99) };
}

/** A floods, then B trickles in while A's line is still long. */
async function flooded(stack: BenchStack, config: BenchConfig, large: { id: string; key: string }, small: { id: string; key: string }) {
  const since = await dbNow(stack);
  const floodStarted = Date.now();
  await flood(stack, large.key, config.fairFloodTasks);
  const floodSeconds = (Date.now() - floodStarted) / 1000;
  await trickle(stack, small.key, config.fairSmallTasks, config.fairIntervalMs);
  const capacity = (config.fairConcurrency * 1000) / config.fairLatencyMs;
  await waitFinal(stack, since, config.fairFloodTasks + config.fairSmallTasks, 120_000 + (3 * 1000 * config.fairFloodTasks) / capacity);
  const { byKey, perSecond } = await waits(stack, since);
  const a = byKey.get(large.id) ?? [];
  const b = byKey.get(small.id) ?? [];
  if (a.length !== config.fairFloodTasks || b.length !== config.fairSmallTasks) throw new Error(`fairness: found ${a.length} of A's and ${b.length} of B's tasks`);
  return { bP50: quantile(b, 0.5), bP99: quantile(b, 0.99), bMax: Math.max(...b), aP50: quantile(a, 0.5), aP99: quantile(a, 0.99), perSecond, floodSeconds };
}

/**
 * Figure 11: fairness between tenants. A model on one upstream of `max_concurrency` 2 (the run queue's
 * upstream reservation is the bound: the worker's own concurrency is 4) and a fixed answer time (50 ms);
 * tenant A (a key) queues a flood, then tenant B (another key) sends one task every 200 ms while A's
 * line is still long. B's queue wait (submit -> start) under the flood, next to B's wait with
 * nobody else waiting (same run, same cadence), and A's wait. With first-in first-out B would wait
 * about as long as A; the fair scheduler serves B at the next free slot.
 */
export async function benchFairness(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const large = await createKey(stack, "bench-fair-flood");
  const small = await createKey(stack, "bench-fair-small");
  const worker = await stack.startWorker([FAIR_MODEL]);
  const runs: { alone50: number; alone99: number; bP50: number; bP99: number; bMax: number; aP50: number; aP99: number; perSecond: number; floodSeconds: number }[] = [];
  try {
    // Warm-up, unrecorded: the worker's and the API's first tasks of this model.
    await alone(stack, small, 10, 50);
    for (let i = 0; i < config.repetitions; i++) {
      const base = await alone(stack, small, config.fairSmallTasks, config.fairIntervalMs);
      const load = await flooded(stack, config, large, small);
      runs.push({ alone50: base.p50, alone99: base.p99, ...load });
    }
  } finally {
    await worker.stop();
  }
  const m = medians(runs);
  const run = config.fairLatencyMs;
  // The bar: B starts before A's tenth next task, i.e. within 10 answers shared by the slots.
  const tenNext = (10 * config.fairLatencyMs) / config.fairConcurrency;
  const capacity = (config.fairConcurrency * 1000) / config.fairLatencyMs;
  const setup = `upstream max_concurrency ${config.fairConcurrency} (worker ${2 * config.fairConcurrency}), ${config.fairLatencyMs} ms answers; A floods ${config.fairFloodTasks}, then B sends ${config.fairSmallTasks}, one per ${config.fairIntervalMs} ms`;
  notes.push(
    `fairness: ${setup}; A's flood submitted in ${m.floodSeconds.toFixed(1)} s, the model served ${m.perSecond.toFixed(1)} tasks/s (the upstream's capacity ${capacity.toFixed(0)}/s); B's longest wait under the flood ${Math.round(m.bMax)} ms. First-in first-out would have B wait about as long as A (p50 ${Math.round(m.aP50)} ms).`,
  );
  return [
    row("11. fairness", `small tenant B's queue wait p50 (submit -> start) while A floods; ${setup} (baseline: B alone, same cadence)`, "ms", m.bP50, m.alone50, {
      text: `<= baseline + ${run} ms (one answer: B waits only for a slot)`,
      met: m.bP50 <= m.alone50 + run,
    }),
    row("11. fairness", "small tenant B's queue wait p99 while A floods (baseline: B alone p99)", "ms", m.bP99, m.alone99, {
      text: `<= baseline + ${tenNext} ms (before A's 10th next task starts)`,
      met: m.bP99 <= m.alone99 + tenNext,
    }),
    row("11. fairness", "flooding tenant A's queue wait p50 (baseline: B's p50 under the flood; first-in first-out would give about 1x)", "ms", m.aP50, m.bP50, {
      text: ">= 20x B's wait",
      met: m.aP50 >= 20 * m.bP50,
    }),
    row("11. fairness", "flooding tenant A's queue wait p99", "ms", m.aP99, null),
    // Were the upstream's max_concurrency not held, the worker's 2x concurrency would serve up to twice it.
    row("11. fairness", `tasks/s served under the flood (baseline: the upstream's capacity, max_concurrency ${config.fairConcurrency} x 1000 / ${config.fairLatencyMs} ms)`, "tasks/s", m.perSecond, capacity, {
      text: "<= the upstream's capacity (its max_concurrency holds)",
      met: m.perSecond <= capacity,
    }),
  ];
}
