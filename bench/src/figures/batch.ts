import { Queue } from "bullmq";
import type { BenchConfig } from "../config";
import { requestJson } from "../http-client";
import { type Row, row } from "../report";
import { IDLE_MODEL, type BenchStack, queueOf } from "../stack";
import { medians, repeat, sleep } from "../stats";
import { obliterate, retireWaiting, runQueueBase } from "./cleanup";

/** Tasks waiting in a model's run queue (its counts hash). */
async function queued(stack: BenchStack, queueName: string): Promise<number> {
  return Number((await stack.redis.hget(`${runQueueBase(stack, queueName)}c`, "waiting")) ?? 0);
}

/** `POST /v1/ai/batches` with `items` requests: seconds until every row is stored and every job queued. */
async function nativeBatch(stack: BenchStack, items: number): Promise<number> {
  const body = {
    requests: Array.from({ length: items }, (_, i) => ({
      custom_id: `item-${i}`,
      messages: [{ role: "user", content: `Summarise item ${i} in one sentence.` }],
      configs: { model: IDLE_MODEL, max_tokens: 64, top_k: 10, top_p: 0.9, temperature: 0 },
    })),
  };
  const started = performance.now();
  const answer = await requestJson<{ data: { data: { batch_id: string } } }>(`${stack.apiUrl}/v1/ai/batches`, { key: stack.adminKey, body });
  const batchId = answer.data.data.batch_id;
  for (;;) {
    const { rows } = await stack.pg.query<{ n: string }>("SELECT count(*) AS n FROM tasks WHERE batch_id = $1", [batchId]);
    if (Number(rows[0]!.n) >= items && (await queued(stack, queueOf(IDLE_MODEL))) >= items) break;
    await sleep(5);
  }
  return (performance.now() - started) / 1000;
}

/** The baseline: the same number of jobs through BullMQ's addBulk, 1,000 per call, as the service chunks them. */
async function rawAddBulk(stack: BenchStack, items: number): Promise<number> {
  const queue = new Queue("bench_raw_batch", { connection: stack.redis, prefix: stack.bullPrefix });
  const started = performance.now();
  for (let start = 0; start < items; start += 1_000) {
    const ids = Array.from({ length: Math.min(1_000, items - start) }, (_, i) => `raw${start + i}`.padEnd(32, "0"));
    await queue.addBulk(ids.map((id) => ({ name: "text-completion", data: { taskId: id }, opts: { jobId: id, priority: 100, attempts: 5 } })));
  }
  const seconds = (performance.now() - started) / 1000;
  await queue.obliterate({ force: true });
  await queue.close();
  return seconds;
}

/** Figure 2: a 50,000-item batch accepted (rows stored, jobs queued) vs raw addBulk of as many jobs. */
export async function benchBatch(stack: BenchStack, config: BenchConfig): Promise<Row[]> {
  const items = config.batchItems;
  const runs = await repeat(config.repetitions, async (index) => {
    const size = index < 0 ? Math.min(items, 5_000) : items;
    const service = await nativeBatch(stack, size);
    await retireWaiting(stack, IDLE_MODEL, queueOf(IDLE_MODEL));
    const raw = await rawAddBulk(stack, size);
    await obliterate(stack, "bench_raw_batch");
    return { seconds: service, rawSeconds: raw, perSecond: size / service, rawPerSecond: size / raw };
  });
  const m = medians(runs);
  return [
    row("2. batch", `${items.toLocaleString("en")} items accepted`, "s", m.seconds, m.rawSeconds, { text: items >= 50_000 ? "< 5 s" : "< 5 s (at 50,000)", met: m.seconds < 5 * (items / 50_000) }),
    row("2. batch", "items accepted/s", "items/s", m.perSecond, m.rawPerSecond),
  ];
}
