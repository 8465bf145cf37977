import type { TaskStatus } from "@llmq/core";
import type { Database } from "./client";

/** How many tasks a model has in one status. */
export interface TaskCount {
  model: string;
  status: TaskStatus;
  count: number;
}

/** Aggregate views over the tasks table, for metrics: read-only, one query each. */
export class TaskStats {
  constructor(private readonly db: Database) {}

  /** Tasks per (model, status). A full count: meant for a metrics scrape every few seconds, not per request. */
  async countsByModelAndStatus(): Promise<TaskCount[]> {
    const groups = await this.db.task.groupBy({ by: ["model", "status"], _count: { _all: true } });
    return groups.map((group) => ({ model: group.model, status: group.status, count: group._count._all }));
  }
}
