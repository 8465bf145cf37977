import type { Logger } from "@llmq/core";
import { type KeySpace, type RedisConnection, retryDelayMs, subscribeCancels } from "@llmq/queue";
import { type Processor, Worker } from "bullmq";

/** A queue this process serves, with how many of its jobs run at once. */
export interface ServedQueue {
  name: string;
  concurrency: number;
  processor: Processor;
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

/** One BullMQ Worker per served queue (each model's, and batch ingestion), and cancellation messages routed to whichever holds the job. */
export class WorkerPool {
  readonly workers: Worker[];

  private constructor(workers: Worker[]) {
    this.workers = workers;
  }

  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const workers = options.queues.map((queue) => {
      const worker = new Worker(queue.name, queue.processor, {
        connection: options.connection,
        prefix: options.keys.bull,
        concurrency: queue.concurrency,
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
    });
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
