import { createLogger } from "@llmq/config";
import { type RedisConnection, closeRedis, createRedis, keySpace } from "@llmq/queue";
import { testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type Job, Queue, Worker } from "bullmq";
import { WORKER_INTERNALS } from "../src/prompt-worker";
import { WorkerPool } from "../src/worker-pool";

// BullMQ 6's Worker fetches jobs one round trip at a time until it holds `concurrency` of them, and only
// then starts the first: a burst waited for all its fetches, and a lone job for one more fetch. The pool's
// PromptWorkers start each job as soon as it is fetched, and keep BullMQ's concurrency, locks and completions.

const QUEUE = "prompt_test_queue";
const logger = createLogger({ name: "prompt-worker-test", level: "silent" });

describe("PromptWorker (the worker pool's BullMQ Worker)", () => {
  const keys = keySpace(uniquePrefix());
  let connection: RedisConnection;
  let cancels: RedisConnection;
  let queue: Queue;
  let pool: WorkerPool | null = null;

  beforeAll(() => {
    connection = createRedis(testRedisUrl(), { blocking: true, name: "prompt-test" });
    cancels = createRedis(testRedisUrl(), { blocking: true, name: "prompt-test-cancels" });
    queue = new Queue(QUEUE, { connection: createRedis(testRedisUrl(), { blocking: true, name: "prompt-test-queue" }), prefix: keys.bull(QUEUE) });
  });
  afterEach(async () => {
    await pool?.close(5_000);
    pool = null;
  });
  afterAll(async () => {
    await queue.close();
    await closeRedis(queue.opts.connection as RedisConnection);
    await Promise.all([closeRedis(connection), closeRedis(cancels)]);
  });

  const start = (processor: (job: Job) => Promise<void>, concurrency: number) =>
    WorkerPool.start({ queues: [{ name: QUEUE, concurrency, processor }], connection, cancelSubscriber: cancels, keys, lockDurationMs: 30_000, stalledIntervalMs: 30_000, logger });

  it("still has the BullMQ internals its fetch loop uses", () => {
    for (const name of WORKER_INTERNALS) expect(typeof (Worker.prototype as unknown as Record<string, unknown>)[name]).toBe("function");
  });

  it("starts the first job of a burst before fetching the others, and still runs `concurrency` at once", async () => {
    const jobs = 12;
    await queue.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: "job", data: { i }, opts: { jobId: `job-${i}` } })));
    let running = 0;
    let mostRunning = 0;
    let activeAtFirstStart: Promise<number> | null = null;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const done: string[] = [];
    pool = await start(async (job) => {
      // Sent on the connection the worker fetches with, before anything it sends after this call: how many
      // jobs the worker had fetched (moved to active) when it started this one.
      activeAtFirstStart ??= connection.llen(`${keys.bull(QUEUE)}:${QUEUE}:active`);
      running++;
      mostRunning = Math.max(mostRunning, running);
      if (mostRunning === 4) release();
      await released;
      running--;
      done.push(job.id!);
    }, 4);
    for (let waited = 0; done.length < jobs && waited < 200; waited++) await new Promise((resolve) => setTimeout(resolve, 50));

    // BullMQ's own loop had fetched 4 (its concurrency) before it started the first.
    expect(await activeAtFirstStart).toBe(1);
    expect(mostRunning).toBe(4);
    expect(done.sort()).toEqual(Array.from({ length: jobs }, (_, i) => `job-${i}`).sort());
    expect(await queue.getCompletedCount()).toBe(jobs);
  });

  it("an idle worker starts a lone job at once, each of several in turn, with nothing left active", async () => {
    const seen: number[] = [];
    pool = await start(async (job) => {
      seen.push((job.data as { i: number }).i);
    }, 4);
    for (let i = 0; i < 3; i++) {
      await queue.add("job", { i }, { jobId: `lone-${i}` });
      for (let waited = 0; seen.length <= i && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(seen).toEqual([0, 1, 2]);
    for (let waited = 0; (await queue.getActiveCount()) > 0 && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await queue.getActiveCount()).toBe(0);
  });
});
