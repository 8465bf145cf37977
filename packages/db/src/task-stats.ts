import type { TaskStatus } from "@llmq/core";
import type { Database } from "./client";

/** How many tasks a model has in one status. */
export interface TaskCount {
  model: string;
  status: TaskStatus;
  count: number;
}

/** Tasks of one model that finished in one minute (or in the whole window when `minute` is null). */
export interface FinishedTaskStats {
  model: string;
  minute: Date | null;
  completed: number;
  failed: number;
  /** Latency (completed_at - created_at) percentiles of the COMPLETED tasks; null when none. */
  p50Ms: number | null;
  p95Ms: number | null;
}

/** Aggregate views over the tasks table for operators and metrics: read-only, one query each. */
export class TaskStatsRepository {
  constructor(private readonly db: Database) {}

  /**
   * Open tasks (PENDING, RUNNING) per (model, status), exactly: `completed_at IS NULL` is the open tasks
   * (the table's CHECK), read from tasks_open_idx, so the count costs the open tasks, not the history
   * (a count of every status was a parallel scan of the whole table: 3-9 s at 10 M rows). Finished tasks
   * are counted as they end, by each process (llmq_tasks_ended_total, docs/observability.md).
   */
  async openCountsByModelAndStatus(): Promise<TaskCount[]> {
    const groups = await this.db.task.groupBy({ by: ["model", "status"], where: { completedAt: null }, _count: { _all: true } });
    return groups.map((group) => ({ model: group.model, status: group.status, count: group._count._all }));
  }

  /**
   * Per model and minute since `since`, plus per model over the whole window, in ONE query (grouping
   * sets over tasks_completed_idx). Minutes with nothing finished are absent.
   */
  async finishedSince(since: Date): Promise<FinishedTaskStats[]> {
    const rows = await this.db.$queryRaw<{ model: string; minute: Date | null; completed: bigint; failed: bigint; p50: number | null; p95: number | null }[]>`
      SELECT model, date_trunc('minute', completed_at) AS minute,
             count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
             count(*) FILTER (WHERE status = 'FAILED') AS failed,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at) * 1000) FILTER (WHERE status = 'COMPLETED') AS p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at) * 1000) FILTER (WHERE status = 'COMPLETED') AS p95
        FROM tasks
       WHERE completed_at >= ${since} AND status IN ('COMPLETED', 'FAILED')
       GROUP BY GROUPING SETS ((model, date_trunc('minute', completed_at)), (model))`;
    return rows.map((row) => ({
      model: row.model,
      minute: row.minute,
      completed: Number(row.completed),
      failed: Number(row.failed),
      p50Ms: row.p50 === null ? null : Math.round(Number(row.p50)),
      p95Ms: row.p95 === null ? null : Math.round(Number(row.p95)),
    }));
  }
}
