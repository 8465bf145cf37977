import type { RedisConnection } from "./connection";

/** Where a waiting job stands in its queue. */
export interface LinePlace {
  /** Jobs that a worker will take before this one (0 = next). */
  ahead: number;
  /** Jobs running now. */
  active: number;
}

/** Reads BullMQ's key layout to place a waiting job in line and to time the jobs that finished last. */
export class QueueLine {
  constructor(
    private readonly redis: RedisConnection,
    /** BullMQ's prefix (KeySpace.bull). */
    private readonly prefix: string,
  ) {}

  private key(queueName: string, suffix: string): string {
    return `${this.prefix}:${queueName}:${suffix}`;
  }

  /**
   * The job's place, or null when it is not waiting (running, delayed for a retry, finished, gone).
   * BullMQ LPUSHes new jobs onto `wait` and workers take them from the right; jobs with a priority
   * (batch items) sit in the `prioritized` sorted set and are taken only once `wait` is empty.
   */
  async place(queueName: string, jobId: string): Promise<LinePlace | null> {
    const wait = this.key(queueName, "wait");
    const results = await this.redis
      .multi()
      .llen(wait)
      .lpos(wait, jobId)
      .zrank(this.key(queueName, "prioritized"), jobId)
      .llen(this.key(queueName, "active"))
      .exec();
    if (!results) return null;
    const [waitLength, index, rank, active] = results.map(([error, value]) => (error ? null : (value as number | null)));
    if (index !== null && index !== undefined && waitLength !== null && waitLength !== undefined) {
      return { ahead: waitLength - 1 - index, active: active ?? 0 };
    }
    if (rank !== null && rank !== undefined) return { ahead: (waitLength ?? 0) + rank, active: active ?? 0 };
    return null;
  }

  /** Run times (ms) of up to `limit` jobs that completed last, newest first, from the jobs BullMQ keeps. */
  async recentDurationsMs(queueName: string, limit: number): Promise<number[]> {
    const ids = await this.redis.zrevrange(this.key(queueName, "completed"), 0, limit - 1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.key(queueName, id), "processedOn", "finishedOn");
    const rows = (await pipeline.exec()) ?? [];
    const durations: number[] = [];
    for (const [error, value] of rows) {
      const [processedOn, finishedOn] = (error ? [] : (value as (string | null)[])).map(Number);
      if (processedOn && finishedOn && finishedOn >= processedOn) durations.push(finishedOn - processedOn);
    }
    return durations;
  }
}
