import type { ModelConfig } from "@llmq/core";
import { type PrivateRedis, startPrivateRedis } from "@llmq/testkit";
import { Worker } from "bullmq";
import { BATCH_PRIORITY, QueueLine, type RedisConnection, TaskQueues, closeRedis, createRedis } from "../src";

/**
 * A waiting job's place in line (GET /v1/ai/tasks/{id}: queue_position) must not cost O(queue length) per
 * poll. Every figure is checked against the truth read from BullMQ's lists, and the cost by the commands
 * Redis ran (INFO commandstats, a Redis of this suite's own so no other suite's commands count).
 */

let redis: PrivateRedis;
let connection: RedisConnection;
let blocking: RedisConnection;
const prefix = "linetest:bull";
const model = (id: string): ModelConfig => ({
  id,
  provider: { kind: "simulated" } as unknown as ModelConfig["provider"],
  upstreamModel: id,
  upstreams: [],
  fallbacks: [],
  concurrency: 2,
  queueName: `llm_${id}_queue`,
  taskType: id,
  maxTokens: 100,
  maxQueueDepth: 0,
  description: null,
});
const models = [model("small"), model("large"), model("moving"), model("retried"), model("batch")];
let queues: TaskQueues;
let line: QueueLine;

beforeAll(async () => {
  redis = await startPrivateRedis();
  connection = createRedis(redis.url);
  blocking = createRedis(redis.url, { blocking: true });
  queues = new TaskQueues(connection, prefix, models);
  line = new QueueLine(connection, prefix);
}, 60_000);

afterAll(async () => {
  await queues?.close();
  await closeRedis(connection);
  await closeRedis(blocking);
  await redis?.destroy();
});

const ids = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}${i.toString(16).padStart(8, "0")}`.padEnd(32, "0"));

/** The truth, from the lists themselves: jobs ahead (wait list from the right, then the prioritized set). */
async function truth(queueName: string, jobId: string): Promise<{ ahead: number; active: number } | null> {
  const wait = await connection.lrange(`${prefix}:${queueName}:wait`, 0, -1);
  const active = await connection.llen(`${prefix}:${queueName}:active`);
  const index = wait.indexOf(jobId);
  if (index >= 0) return { ahead: wait.length - 1 - index, active };
  const rank = await connection.zrank(`${prefix}:${queueName}:prioritized`, jobId);
  return rank === null ? null : { ahead: wait.length + rank, active };
}

async function expectExact(queueName: string, jobIds: readonly string[]): Promise<void> {
  const got = await Promise.all(jobIds.map((id) => line.place(queueName, id)));
  const want = await Promise.all(jobIds.map((id) => truth(queueName, id)));
  expect(got).toEqual(want);
}

/** Calls per command Redis ran while `run` ran (commands called by scripts included). */
async function commandsDuring(run: () => Promise<unknown>): Promise<Record<string, number>> {
  const read = async () => {
    const stats: Record<string, number> = {};
    for (const line of (await connection.info("commandstats")).split("\r\n")) {
      const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
      if (match) stats[match[1]!] = Number(match[2]);
    }
    return stats;
  };
  const before = await read();
  await run();
  const after = await read();
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const more = calls - (before[name] ?? 0);
    if (more > 0 && name !== "info") delta[name] = more;
  }
  return delta;
}

it("places interactive jobs exactly through submits from two clients, worker starts and cancels", async () => {
  const queueName = models[2]!.queueName;
  const otherConnection = createRedis(redis.url);
  const other = new TaskQueues(otherConnection, prefix, models); // a second API process
  const first = ids("a", 12);
  const second = ids("b", 12);
  await Promise.all([queues.enqueueMany(first.slice(0, 6).map((id) => ({ id, queueName }))), other.enqueueMany(second.slice(0, 6).map((id) => ({ id, queueName })))]);
  for (let i = 6; i < 12; i++) await Promise.all([queues.enqueue(queueName, first[i]!), other.enqueue(queueName, second[i]!)]);
  const all = [...first, ...second];
  await expectExact(queueName, all);

  // A worker takes five from the front; cancels remove jobs in the middle and at both ends.
  const worker = new Worker(queueName, null, { connection: blocking, prefix, autorun: false });
  for (let i = 0; i < 5; i++) expect(await worker.getNextJob(`token-${i}`, { block: false })).toBeDefined();
  const waiting = await connection.lrange(`${prefix}:${queueName}:wait`, 0, -1);
  for (const id of [waiting[3]!, waiting[0]!, waiting[waiting.length - 1]!, waiting[9]!]) await queues.removeWaiting(queueName, id);
  await expectExact(queueName, all);
  const taken = (await Promise.all(all.map((id) => line.place(queueName, id)))).filter((place) => place === null).length;
  expect(taken).toBe(9); // 5 running, 4 cancelled
  expect((await line.place(queueName, (await connection.lindex(`${prefix}:${queueName}:wait`, -1))!))?.ahead).toBe(0);

  // More arrive, more are taken: still exact, and enqueuing a waiting task again changes nothing.
  const third = ids("c", 5);
  await queues.enqueueMany(third.map((id) => ({ id, queueName })));
  await queues.enqueue(queueName, all[20]!);
  for (let i = 5; i < 8; i++) await worker.getNextJob(`token-${i}`, { block: false });
  await expectExact(queueName, [...all, ...third]);
  await worker.close();
  await other.close();
  await closeRedis(otherConnection);
});

it("finds a job that re-entered the line (a retry) once, then places it like the others", async () => {
  const queueName = models[3]!.queueName;
  const jobs = ids("r", 10);
  await queues.enqueueMany(jobs.map((id) => ({ id, queueName })));
  const worker = new Worker(queueName, null, { connection: blocking, prefix, autorun: false });
  const job = (await worker.getNextJob("token-r", { block: false }))!;
  expect(job.id).toBe(jobs[0]);
  // The attempt fails with a backoff: delayed, then back at the end of the line.
  await job.moveToDelayed(Date.now() + 60_000, "token-r");
  expect(await line.place(queueName, job.id!)).toBeNull();
  await queues.enqueueMany(ids("s", 3).map((id) => ({ id, queueName })));
  await job.promote();
  const later = ids("t", 3);
  await queues.enqueueMany(later.map((id) => ({ id, queueName })));

  const firstPoll = await commandsDuring(() => expectExact(queueName, [job.id!]));
  expect(firstPoll.lpos).toBeGreaterThan(0); // found once, from the back
  const everyone = [...jobs, ...ids("s", 3), ...later];
  const nextPolls = await commandsDuring(() => expectExact(queueName, everyone));
  expect(nextPolls.lpos ?? 0).toBe(0);
  await worker.close();
});

it("places batch items after the whole wait list, by their rank among prioritized jobs", async () => {
  const queueName = models[4]!.queueName;
  const interactive = ids("i", 4);
  const batch = ids("d", 6);
  await queues.enqueueMany(batch.map((id) => ({ id, queueName })), { priority: BATCH_PRIORITY });
  await queues.enqueueMany(interactive.map((id) => ({ id, queueName })));
  await expectExact(queueName, [...interactive, ...batch]);
  expect((await line.place(queueName, batch[0]!))?.ahead).toBe(4);
});

it("costs the same few commands per poll, and no scan, whether 100 or 100,000 jobs wait", async () => {
  const small = models[0]!.queueName;
  const large = models[1]!.queueName;
  const smallIds = ids("e", 100);
  const largeIds = Array.from({ length: 100_000 }, (_, i) => `9${i.toString(16).padStart(31, "0")}`);
  await queues.enqueueMany(smallIds.map((id) => ({ id, queueName: small })));
  await queues.enqueueMany(largeIds.map((id) => ({ id, queueName: large })));
  expect(await connection.llen(`${prefix}:${large}:wait`)).toBe(100_000);

  const polls = async (queueName: string, jobIds: string[]) => {
    const picks = [jobIds[0]!, jobIds[Math.floor(jobIds.length / 2)]!, jobIds[jobIds.length - 1]!];
    const places: (number | undefined)[] = [];
    await line.place(queueName, picks[0]!); // the script is loaded (EVAL once), then EVALSHA
    const commands = await commandsDuring(async () => {
      for (const id of picks) places.push((await line.place(queueName, id))?.ahead);
    });
    return { places, commands };
  };
  const few = await polls(small, smallIds);
  const many = await polls(large, largeIds);
  expect(few.places).toEqual([0, 50, 99]);
  expect(many.places).toEqual([0, 50_000, 99_999]);
  // No command that walks the list, and the very same commands, as many, for 100 and for 100,000 jobs.
  for (const scan of ["lpos", "lrange", "lindex"]) expect(many.commands[scan] ?? 0).toBe(0);
  expect(many.commands).toEqual(few.commands);
  expect(Object.values(many.commands).reduce((sum, calls) => sum + calls, 0)).toBeLessThanOrEqual(3 * 10);
}, 120_000);
