import { createHash, randomUUID } from "node:crypto";

/** A new task id: 32 lowercase hex characters, as Flexstack's task ids are. */
export function newTaskId(): string {
  return randomUUID().replace(/-/g, "");
}

/** True when `value` has the shape of a task id (cheap check before touching the database). */
export function isTaskId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

/** A new batch id, `batch_` + 32 hex, as OpenAI's look. */
export function newBatchId(): string {
  return `batch_${newTaskId()}`;
}

/** The task id of line `index` of a batch: derived, so a repeated ingest finds the same rows and jobs. */
export function batchTaskId(batchId: string, index: number): string {
  return createHash("sha256").update(`${batchId}:${index}`).digest("hex").slice(0, 32);
}
