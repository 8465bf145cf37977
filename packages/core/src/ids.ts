/** A new task id: 32 lowercase hex characters, as Flexstack's task ids are. */
export function newTaskId(): string {
  return globalThis.crypto.randomUUID().replace(/-/g, "");
}

/** True when `value` has the shape of a task id (cheap check before touching the database). */
export function isTaskId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

/** A new batch id, `batch_` + 32 hex, as OpenAI's look. */
export function newBatchId(): string {
  return `batch_${newTaskId()}`;
}
