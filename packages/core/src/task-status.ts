export const TASK_STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "EXPIRED"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const FINAL_STATUSES: readonly TaskStatus[] = ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"];

/** Which statuses a task may move to from each status. Every write is conditioned on these. */
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  PENDING: ["RUNNING", "CANCELLED", "EXPIRED", "FAILED"],
  // RUNNING -> RUNNING is a new attempt after a crash or a retryable failure.
  RUNNING: ["RUNNING", "COMPLETED", "FAILED", "CANCELLED", "PENDING"],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
  EXPIRED: [],
};

/** True when the task will never change again. */
export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** The statuses from which `to` can be reached: the WHERE clause of a conditional update. */
export function statusesLeadingTo(to: TaskStatus): TaskStatus[] {
  return TASK_STATUSES.filter((from) => TRANSITIONS[from].includes(to));
}

/** True when a task in `from` may move to `to`. */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}
