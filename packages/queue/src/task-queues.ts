import type { ModelConfig } from "@llmq/core";
import { Job, type JobsOptions, Queue } from "bullmq";
import type { ChainableCommander } from "ioredis";
import { type RedisConnection, pingRedis } from "./connection";
import { type JobPayload, type RequestCopy, jobCatalog } from "./job-catalog";
import { lineCommands, recordRemoval, stampTicket } from "./queue-line";

/** A task to enqueue: its id (the job id), its model's queue, and the copy of its request the job may carry. */
export interface QueuedTask {
  id: string;
  queueName: string;
  request?: RequestCopy;
}

function payloadOf(task: QueuedTask): JobPayload<"text-completion"> {
  return task.request ? { taskId: task.id, request: task.request } : { taskId: task.id };
}

/** Jobs per `addBulk` call: one round trip, without a huge Lua call blocking Redis. */
const BULK_SIZE = 1_000;
/** Jobs per MULTI of waiting-list jobs: one round trip, and Redis is not held for long by one transaction. */
const STAMPED_BULK_SIZE = 200;

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

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    models: readonly ModelConfig[],
  ) {
    lineCommands(connection); // the line's scripts, which enqueue transactions and removals use
    for (const model of models) {
      const queue = new Queue(model.queueName, { connection, prefix });
      // Connection errors reach the caller whose command fails (the API answers 503); unheard, BullMQ
      // would print every reconnect attempt of a Redis outage raw to stderr.
      queue.on("error", () => undefined);
      this.queues.set(model.queueName, queue);
    }
  }

  /** True when the producers' connection answers PING: submissions can be enqueued (readiness). */
  ready(): Promise<boolean> {
    return pingRedis(this.connection);
  }

  private queue(queueName: string): Queue {
    const queue = this.queues.get(queueName);
    if (!queue) throw new Error(`no queue named ${queueName}`);
    return queue;
  }

  /**
   * Enqueues a task (a batch item with its lower priority); the job id is the task id, so enqueuing twice is
   * harmless. A job for the wait list gets its ticket in line in the same transaction (see QueueLine).
   */
  async enqueue(queueName: string, taskId: string, options: { priority?: number } = {}): Promise<void> {
    await this.enqueueMany([{ id: taskId, queueName }], options);
  }

  /**
   * Enqueues many tasks, each on its own queue (batch items: lower priority than interactive calls). Job id =
   * task id, so repeating is harmless. Prioritized jobs go by `addBulk`, one round trip per queue and per
   * 1,000 jobs; jobs for the wait list by MULTIs of BullMQ's add and the line's STAMP, one round trip per
   * queue and per 200 jobs.
   */
  async enqueueMany(tasks: readonly QueuedTask[], options: { priority?: number } = {}): Promise<void> {
    const jobOptions: JobsOptions = { ...jobCatalog["text-completion"].options, ...(options.priority ? { priority: options.priority } : {}) };
    const byQueue = new Map<string, QueuedTask[]>();
    for (const task of tasks) {
      const queued = byQueue.get(task.queueName);
      if (queued) queued.push(task);
      else byQueue.set(task.queueName, [task]);
    }
    for (const [queueName, queued] of byQueue) {
      const queue = this.queue(queueName);
      if (jobOptions.priority) {
        for (let start = 0; start < queued.length; start += BULK_SIZE) {
          const jobs = queued.slice(start, start + BULK_SIZE).map((task) => ({ name: "text-completion", data: payloadOf(task), opts: { ...jobOptions, jobId: task.id } }));
          await queue.addBulk(jobs);
        }
        continue;
      }
      for (let start = 0; start < queued.length; start += STAMPED_BULK_SIZE) {
        await this.addStamped(queue, queued.slice(start, start + STAMPED_BULK_SIZE), jobOptions);
      }
    }
  }

  /**
   * Adds jobs for the wait list in one MULTI, each followed by the line's STAMP (nothing of another client
   * comes between an add and its stamp, so tickets follow the list's order exactly).
   */
  private async addStamped(queue: Queue, tasks: readonly QueuedTask[], jobOptions: JobsOptions): Promise<void> {
    const client = await queue.getBackend().client;
    const transaction = client.multi() as unknown as ChainableCommander;
    const added: Promise<string>[] = [];
    for (const task of tasks) {
      const job = new Job(queue, "text-completion", payloadOf(task), { ...jobOptions, jobId: task.id }, task.id);
      // addJob queues BullMQ's add script on the transaction synchronously (as Queue.addBulk relies on).
      added.push(job.addJob(transaction as never));
      stampTicket(transaction, this.prefix, queue.name, task.id);
    }
    const results = await transaction.exec();
    await Promise.all(added);
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  /** The job's state, or null when no job carries this task (lost, or removed after finishing). */
  async jobState(queueName: string, taskId: string): Promise<{ state: string; failedReason: string | null } | null> {
    const job = await this.queue(queueName).getJob(taskId);
    if (!job) return null;
    return { state: await job.getState(), failedReason: job.failedReason ?? null };
  }

  /** Interactive jobs waiting in a queue (batch items wait apart, as prioritized jobs): what backpressure bounds. */
  async interactiveWaiting(queueName: string): Promise<number> {
    return this.queue(queueName).getJobCountByTypes("wait");
  }

  /** Drops a waiting, prioritized or delayed job (a cancelled task); an active job is left to its worker. */
  async removeWaiting(queueName: string, taskId: string): Promise<void> {
    const job = await this.queue(queueName).getJob(taskId);
    const state = await job?.getState();
    if (job && (state === "waiting" || state === "delayed" || state === "prioritized")) {
      // The jobs queued before it stop counting it behind them (QueueLine).
      if (state === "waiting") await recordRemoval(this.connection, this.prefix, queueName, taskId);
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
