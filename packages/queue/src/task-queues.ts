import type { ModelConfig } from "@llmq/core";
import { Queue } from "bullmq";
import type { RedisConnection } from "./connection";
import { type JobPayload, type RequestCopy, jobCatalog } from "./job-catalog";

/** Jobs per `addBulk` call: one round trip, without a huge Lua call blocking Redis. */
const BULK_SIZE = 1_000;

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface DetailedQueueCounts {
  waiting: number;
  prioritized: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

/** The producer side: one BullMQ queue per model, keyed by queue name. */
export class TaskQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(connection: RedisConnection, prefix: string, models: readonly ModelConfig[]) {
    for (const model of models) {
      const queue = new Queue(model.queueName, { connection, prefix });
      // Connection errors reach the caller whose command fails (the API answers 503); unheard, BullMQ
      // would print every reconnect attempt of a Redis outage raw to stderr.
      queue.on("error", () => undefined);
      this.queues.set(model.queueName, queue);
    }
  }

  private queue(queueName: string): Queue {
    const queue = this.queues.get(queueName);
    if (!queue) throw new Error(`no queue named ${queueName}`);
    return queue;
  }

  /** Enqueues a task (a batch item with its lower priority); the job id is the task id, so enqueuing twice is harmless. */
  async enqueue(queueName: string, taskId: string, options: { priority?: number } = {}): Promise<void> {
    const payload: JobPayload<"text-completion"> = { taskId };
    await this.queue(queueName).add("text-completion", payload, { ...jobCatalog["text-completion"].options, ...(options.priority ? { priority: options.priority } : {}), jobId: taskId });
  }

  /**
   * Enqueues many tasks, each on its own queue, one `addBulk` round trip per queue and per 1,000 jobs
   * (batch items: lower priority than interactive calls). Job id = task id, so repeating is harmless.
   */
  async enqueueMany(tasks: readonly { id: string; queueName: string; request?: RequestCopy }[], options: { priority?: number } = {}): Promise<void> {
    const jobOptions = { ...jobCatalog["text-completion"].options, ...(options.priority ? { priority: options.priority } : {}) };
    const byQueue = new Map<string, { id: string; request?: RequestCopy }[]>();
    for (const task of tasks) {
      const queued = byQueue.get(task.queueName);
      if (queued) queued.push(task);
      else byQueue.set(task.queueName, [task]);
    }
    for (const [queueName, queued] of byQueue) {
      const queue = this.queue(queueName);
      for (let start = 0; start < queued.length; start += BULK_SIZE) {
        const jobs = queued.slice(start, start + BULK_SIZE).map(({ id, request }) => {
          const data: JobPayload<"text-completion"> = request ? { taskId: id, request } : { taskId: id };
          return { name: "text-completion", data, opts: { ...jobOptions, jobId: id } };
        });
        await queue.addBulk(jobs);
      }
    }
  }

  /** The job's state, or null when no job carries this task (lost, or removed after finishing). */
  async jobState(queueName: string, taskId: string): Promise<{ state: string; failedReason: string | null } | null> {
    const job = await this.queue(queueName).getJob(taskId);
    if (!job) return null;
    return { state: await job.getState(), failedReason: job.failedReason ?? null };
  }

  /** Drops a waiting or delayed job (a cancelled task); an active job is left to its worker. */
  /** Interactive jobs waiting in a queue (batch items wait apart, as prioritized jobs): what backpressure bounds. */
  async interactiveWaiting(queueName: string): Promise<number> {
    return this.queue(queueName).getJobCountByTypes("wait");
  }

  async removeWaiting(queueName: string, taskId: string): Promise<void> {
    const job = await this.queue(queueName).getJob(taskId);
    const state = await job?.getState();
    if (job && (state === "waiting" || state === "delayed" || state === "prioritized")) {
      await job.remove().catch(() => undefined);
    }
  }

  async counts(queueName: string): Promise<QueueCounts> {
    const c = await this.queue(queueName).getJobCounts("waiting", "active", "delayed", "completed", "failed", "prioritized");
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  /**
   * Every job count of a queue, prioritized (batch items) apart, and whether it is paused. A paused
   * queue's jobs stay in `waiting` (BullMQ 6 keeps them in the wait list) until it resumes.
   */
  async details(queueName: string): Promise<{ paused: boolean; counts: DetailedQueueCounts }> {
    const queue = this.queue(queueName);
    const [c, paused] = await Promise.all([queue.getJobCounts("waiting", "prioritized", "active", "delayed", "completed", "failed"), queue.isPaused()]);
    return {
      paused,
      counts: {
        waiting: c.waiting ?? 0,
        prioritized: c.prioritized ?? 0,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
      },
    };
  }

  /** Stops every worker of every process taking new jobs from this queue; running jobs finish. */
  async pause(queueName: string): Promise<void> {
    await this.queue(queueName).pause();
  }

  async resume(queueName: string): Promise<void> {
    await this.queue(queueName).resume();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
  }
}
