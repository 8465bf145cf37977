import { randomUUID } from "node:crypto";

/** A new task id: 32 lowercase hex characters, as Flexstack's task ids are. */
export function newTaskId(): string {
  return randomUUID().replace(/-/g, "");
}

/** True when `value` has the shape of a task id (cheap check before touching the database). */
export function isTaskId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}
