import type { TaskRecord } from "@llmq/db";
import { taskData } from "./envelope";

/** One task as task lists show it: `GET /v1/ai/tasks` rows and `GET /v1/ai/tasks/updates` events. */
export function historyRow(task: TaskRecord) {
  return { ...taskData(task), queue_name: task.queueName, owner_id: task.ownerId };
}
