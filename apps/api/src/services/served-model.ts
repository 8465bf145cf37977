import type { TaskRecord } from "@llmq/db";

/**
 * The model a task's answers name: the one that served it (a fallback, once fallbacks are wired), else
 * the one it was submitted to. Both dialects answer it (OpenAI's `model`, the task dialect's `configs.model`).
 */
export function answeredModel(task: Pick<TaskRecord, "model" | "servedModel">): string {
  return task.servedModel ?? task.model;
}
