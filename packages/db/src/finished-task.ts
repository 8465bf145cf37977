import type { FinishedRow, TaskRow } from "./task-sql";

/** A completed task's row as its completion committed it, less its request (`messages`, `configs`). */
export type FinishedTask = FinishedRow;

/** The row's timestamp fields: JSON carries them as ISO strings. */
const DATE_FIELDS = ["createdAt", "startedAt", "firstTokenAt", "completedAt", "updatedAt", "expiresAt"] as const satisfies readonly (keyof FinishedTask)[];

/** A finished row as the JSON its final notice carries (see taskOfFinishedJson). */
export function finishedTaskJson(row: FinishedTask): string {
  return JSON.stringify(row);
}

/**
 * The task a final notice announced (finishedTaskJson, parsed), completed with the request its reader
 * holds already (the columns that never change after the insert): the row as a read of it would answer.
 * Null when the value is not such a row of that task: the reader then reads the row.
 */
export function taskOfFinished(announced: unknown, request: Pick<TaskRow, "id" | "messages" | "configs">): TaskRow | null {
  if (typeof announced !== "object" || announced === null) return null;
  const value: Record<string, unknown> = { ...(announced as Record<string, unknown>) };
  if (value.id !== request.id || typeof value.status !== "string") return null;
  for (const field of DATE_FIELDS) {
    const raw = value[field];
    if (raw === null) continue;
    if (typeof raw !== "string") return null;
    const date = new Date(raw);
    if (Number.isNaN(date.getTime())) return null;
    value[field] = date;
  }
  return { ...(value as unknown as FinishedTask), messages: request.messages, configs: request.configs };
}
