import type { Logger } from "@llmq/core";
import { type KeySpace, type RedisConnection, retryDelayMs, subscribeCancels } from "@llmq/queue";
import type { Processor, Worker } from "bullmq";
import { PromptWorker } from "./prompt-worker";

/** A queue this process serves, with how many of its jobs run at once. */
export interface ServedQueue {
  name: string;
  concurrency: number;
  processor: Processor;
  /** BullMQ Workers sharing the concurrency, each fetching on its own (default 1): see fetchLoops. */
  fetchLoops?: number;
}

/** Job slots per fetch loop: a burst is fetched by several loops at once, one round trip per job each. */
const JOBS_PER_FETCH_LOOP = 4;
const MAX_FETCH_LOOPS = 8;

/**
 * Fetch loops for a queue of `concurrency` jobs at once. A Worker fetches jobs one round trip at a time
 * (a PromptWorker starts each as it arrives; BullMQ's own would start none of a burst until its fetch
 * loop stopped), so a model's concurrency is spread over several Workers: a burst is fetched by several
 * loops at once.
 */
export function fetchLoops(concurrency: number): number {
  return Math.min(MAX_FETCH_LOOPS, Math.max(1, Math.ceil(concurrency / JOBS_PER_FETCH_LOOP)));
}

/** `total` split into `parts` whole shares that differ by at most one. */
function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0));
}

export interface WorkerPoolOptions {
  queues: readonly ServedQueue[];
  connection: RedisConnection;
  cancelSubscriber: RedisConnection;
  keys: KeySpace;
  lockDurationMs: number;
  stalledIntervalMs: number;
  logger: Logger;
}

/**
 * BullMQ Workers for the served queues (each model's, with its concurrency spread over `fetchLoops`
 * Workers; batch ingestion; webhooks), PromptWorkers that start each job as soon as it is fetched, and
 * cancellation messages routed to whichever holds the job. One Worker per queue runs BullMQ's stalled-job check; the others skip it (it scans the queue's active jobs).
 */
export class WorkerPool {
  readonly workers: Worker[];

  private constructor(workers: Worker[]) {
    this.workers = workers;
  }

  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const workers = options.queues.flatMap((queue) =>
      shares(queue.concurrency, Math.min(queue.fetchLoops ?? 1, queue.concurrency)).map((concurrency, index) => {
        const worker: Worker = new PromptWorker(queue.name, queue.processor, {
          connection: options.connection,
          prefix: options.keys.bull(queue.name),
          concurrency,
          skipStalledCheck: index > 0,
          lockDuration: options.lockDurationMs,
          stalledInterval: options.stalledIntervalMs,
          // A crash-looping task is not retried forever; the sweeper then fails it.
          maxStalledCount: 3,
          settings: {
            backoffStrategy: (attemptsMade, _type, error) =>
              retryDelayMs(attemptsMade, (error as { retryAfterMs?: number | null } | undefined)?.retryAfterMs ?? null),
          },
        });
        worker.on("error", (error) => options.logger.warn({ err: error, queue: queue.name }, "worker connection error"));
        return worker;
      }),
    );
    await subscribeCancels(options.cancelSubscriber, options.keys, (taskId) => {
      for (const worker of workers) worker.cancelJob(taskId, "cancelled by the client");
    });
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    return new WorkerPool(workers);
  }

  /** Stops taking jobs and waits for in-flight ones until `deadlineMs`; jobs still running then are left to be taken over. */
  async close(deadlineMs: number): Promise<void> {
    // Drain with pause(), not close(): Worker.close() is memoised, so once a graceful close() had
    // started, close(true) would only wait for it again and the deadline would never bite.
    const drained = Promise.allSettled(this.workers.map((worker) => worker.pause()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), deadlineMs);
    });
    const outcome = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    await Promise.allSettled(this.workers.map((worker) => worker.close(outcome === "timeout")));
  }
}
