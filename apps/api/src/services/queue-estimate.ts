import type { ModelsConfig } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { TaskQueues } from "@llmq/queue";

/** What `GET /v1/ai/tasks/{id}` adds for a waiting task. */
export interface QueueEstimate {
  /** 1 = the next job a worker takes. */
  queue_position: number | null;
  eta_seconds: number | null;
}

/** Not waiting, or not asked: both fields null. */
export const NO_QUEUE_ESTIMATE: QueueEstimate = { queue_position: null, eta_seconds: null };
/** How many finished jobs the mean run time is taken over, and how long that mean is reused. */
const RECENT_JOBS = 20;
const MEAN_TTL_MS = 5_000;

/**
 * Place and ETA of a PENDING task, from its model's run queue: `place` estimates the tasks dispatched
 * before it (its rank in its tenant's line, scaled by the tenants sharing the model: see RunQueue.place).
 * ETA = (rounds of `concurrency` tasks before it starts + its own) x the mean run time of the queue's
 * last tasks. It assumes one worker process per model (concurrency from the models file): with more
 * processes the real wait is shorter.
 */
export class QueueEstimator {
  private readonly means = new Map<string, { at: number; meanMs: Promise<number | null> }>();

  constructor(
    private readonly queues: Pick<TaskQueues, "place" | "recentRunTimesMs">,
    private readonly models: ModelsConfig,
  ) {}

  async estimate(task: TaskRecord): Promise<QueueEstimate> {
    if (task.status !== "PENDING") return NO_QUEUE_ESTIMATE;
    const place = await this.queues.place(task.queueName, task.id).catch(() => null);
    if (!place) return NO_QUEUE_ESTIMATE; // delayed for a retry, or just taken by a worker
    const slots = Math.max(1, this.models.byId.get(task.model)?.concurrency ?? 1);
    const meanMs = await this.meanRunMs(task.queueName);
    const rounds = Math.floor((place.ahead + place.leased) / slots) + 1;
    return { queue_position: place.ahead + 1, eta_seconds: meanMs === null ? null : Math.round((rounds * meanMs) / 100) / 10 };
  }

  /** Mean run time of the queue's last jobs, cached a few seconds: a crowd of pollers costs one read. */
  private meanRunMs(queueName: string): Promise<number | null> {
    const cached = this.means.get(queueName);
    if (cached && Date.now() - cached.at < MEAN_TTL_MS) return cached.meanMs;
    const meanMs = this.queues
      .recentRunTimesMs(queueName, RECENT_JOBS)
      .then((durations) => (durations.length === 0 ? null : durations.reduce((sum, ms) => sum + ms, 0) / durations.length));
    // Not kept when nothing ran yet (or Redis failed): the first run times count at once.
    meanMs.then((mean) => mean === null && this.means.delete(queueName), () => this.means.delete(queueName));
    this.means.set(queueName, { at: Date.now(), meanMs });
    return meanMs;
  }
}
