import type { ModelConfig } from "@llmq/core";
import { type RedisConnection, pingRedis } from "./connection";
import type { RequestCopy } from "./job-catalog";
import { RunQueue, type RunQueueCounts, type RunQueuePlace, type RunQueueTaskState, type ServiceTier } from "./run-queue";

/**
 * A task to enqueue on its model's run queue: who shares fairly (`tenant`, with its weight), its tier,
 * the tokens it is expected to use, its queue deadline, and the copy of its request the entry may carry.
 */
export interface QueuedTask {
  id: string;
  queueName: string;
  /** The API key's id, else `u:<ownerId>`. */
  tenant: string;
  /**
   * The tenant's fair-share weight: the key's `fair_share_weight`, else its user's, else 1. Absent: the
   * weight the tenant last had on that queue, else 1 (a re-enqueue that does not know it).
   */
  weight?: number;
  tier: ServiceTier;
  /** Prompt estimate + max_tokens, for every upstream call (core's taskTokenBudget). */
  estimatedTokens: number;
  /** When the task must have started (epoch ms), or null. */
  queueDeadline: number | null;
  request?: RequestCopy;
  /** A batch's item: left out of the interactive depth backpressure bounds (its batch's limits admitted it). */
  batch?: boolean;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface DetailedQueueCounts {
  /** Waiting tasks of the `priority` and `default` tiers (interactive calls). */
  waiting: number;
  /** Waiting `flex` tasks (batch items by default). */
  prioritized: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

/** Waiting tasks of one tenant and tier (the admin queue details). */
export interface TenantWaiting {
  tenant: string;
  tier: ServiceTier;
  waiting: number;
}

function flexOf(counts: RunQueueCounts): number {
  let flex = 0;
  for (const tiers of Object.values(counts.waitingByTenant)) flex += tiers.flex ?? 0;
  return flex;
}

/**
 * The producer side of every model's run queue (packages/queue/src/run-queue): enqueue, withdraw, state,
 * counts, place and pause. Completion tasks no longer go through BullMQ; batch ingestion and webhook
 * deliveries still do (BatchJobs, WebhookJobs).
 */
export class TaskQueues {
  private readonly queues = new Map<string, RunQueue>();

  constructor(
    private readonly connection: RedisConnection,
    /** The deployment's key prefix (REDIS_PREFIX): the run queues' keys are `<prefix>:rq:{<queue>}:…`. */
    prefix: string,
    models: readonly ModelConfig[],
  ) {
    for (const model of models) this.queues.set(model.queueName, new RunQueue(connection, { prefix, queueName: model.queueName }));
  }

  /** True when the producers' connection answers PING: submissions can be enqueued (readiness). */
  ready(): Promise<boolean> {
    return pingRedis(this.connection);
  }

  /** The run queue of a model's queue. */
  runQueue(queueName: string): RunQueue {
    const queue = this.queues.get(queueName);
    if (!queue) throw new Error(`no queue named ${queueName}`);
    return queue;
  }

  /** Enqueues tasks, each on its model's run queue; an id already there is skipped, so repeating is harmless. */
  async enqueueMany(tasks: readonly QueuedTask[]): Promise<void> {
    const byQueue = new Map<string, QueuedTask[]>();
    for (const task of tasks) {
      const queued = byQueue.get(task.queueName);
      if (queued) queued.push(task);
      else byQueue.set(task.queueName, [task]);
    }
    await Promise.all(
      [...byQueue].map(([queueName, queued]) =>
        this.runQueue(queueName).enqueueMany(
          queued.map((task) => ({
            id: task.id,
            tenant: task.tenant,
            ...(task.weight === undefined ? {} : { weight: task.weight }),
            tier: task.tier,
            estimatedTokens: task.estimatedTokens,
            queueDeadline: task.queueDeadline,
            requestCopy: task.request ? JSON.stringify(task.request) : null,
            ...(task.batch ? { batch: true } : {}),
          })),
        ),
      ),
    );
  }

  /** Where the task is in its run queue (waiting, leased, delayed, dead), or null when it is not there (never enqueued, lost, or done). */
  async jobState(queueName: string, taskId: string): Promise<RunQueueTaskState | null> {
    return this.runQueue(queueName).state(taskId);
  }

  /**
   * Interactive tasks (every tier: a caller's `service_tier: "flex"` counts too) waiting in a queue: what
   * backpressure bounds. Batch items are left out; their batch's own limits admitted them.
   */
  async interactiveWaiting(queueName: string): Promise<number> {
    const counts = await this.runQueue(queueName).counts();
    return counts.waiting - counts.batchWaiting;
  }

  /** A waiting task's place estimate, or null when it is not waiting. */
  async place(queueName: string, taskId: string): Promise<RunQueuePlace | null> {
    return this.runQueue(queueName).place(taskId);
  }

  /** Run times (ms) of the queue's last settled tasks, newest first (at most 20). */
  async recentRunTimesMs(queueName: string, limit = 20): Promise<number[]> {
    return this.runQueue(queueName).recentRunTimesMs(limit);
  }

  /** Takes a waiting or delayed task out (a cancelled or expired task); a leased one is left to its worker (the cancel signal stops it). */
  async removeWaiting(queueName: string, taskId: string): Promise<void> {
    await this.runQueue(queueName).withdraw(taskId);
  }

  async counts(queueName: string): Promise<QueueCounts> {
    const queue = this.runQueue(queueName);
    const [c, settled] = await Promise.all([queue.counts(), queue.settledCount()]);
    // `completed`: tasks settled since the run queue began; `failed`: tasks that stalled more than 3 times, until the sweeper fails them.
    return { waiting: c.waiting, active: c.leased, delayed: c.delayed, completed: settled, failed: c.dead };
  }

  /** Every count of a queue (flex apart), whether it is paused, and the waiting tasks per tenant and tier (most first, at most `top`). */
  async details(queueName: string, top = 20): Promise<{ paused: boolean; counts: DetailedQueueCounts; waitingByTenant: TenantWaiting[] }> {
    const queue = this.runQueue(queueName);
    const [c, paused, settled] = await Promise.all([queue.counts(), queue.isPaused(), queue.settledCount()]);
    const interactive = c.waiting - flexOf(c);
    const waitingByTenant: TenantWaiting[] = [];
    for (const [tenant, tiers] of Object.entries(c.waitingByTenant)) {
      for (const [tier, waiting] of Object.entries(tiers)) if (waiting) waitingByTenant.push({ tenant, tier: tier as ServiceTier, waiting });
    }
    waitingByTenant.sort((a, b) => b.waiting - a.waiting || a.tenant.localeCompare(b.tenant));
    return {
      paused,
      counts: { waiting: interactive, prioritized: c.waiting - interactive, active: c.leased, delayed: c.delayed, completed: settled, failed: c.dead },
      waitingByTenant: waitingByTenant.slice(0, top),
    };
  }

  /** Stops every worker of every process taking new tasks from this queue; running ones finish. */
  async pause(queueName: string): Promise<void> {
    await this.runQueue(queueName).pause();
  }

  async resume(queueName: string): Promise<void> {
    await this.runQueue(queueName).resume();
  }

  async close(): Promise<void> {
    // Nothing of its own: the run queues use the connection they were given.
  }
}
