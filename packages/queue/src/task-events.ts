import type { TaskStatus } from "@llmq/core";

/**
 * What happens to a task, in order, as stored in its Redis Stream.
 * A `status` event with status RUNNING opens attempt `attempt`: text restarts from empty, and token
 * events of earlier attempts (a fenced-off worker still writing) must be ignored. The append script
 * refuses them (task-event-notices.ts), but a stream written before it did may still hold some.
 */
export type TaskEvent =
  | { type: "status"; status: TaskStatus; attempt: number; error?: { code: string; message: string } }
  /** `choice` is the choice index (OpenAI `n`); absent in events written before choices existed, meaning 0. */
  | { type: "token"; attempt: number; choice?: number; delta: string; tokens: number; percent: number }
  | { type: "tool_call"; attempt: number; choice: number; index: number; id?: string; name?: string; arguments?: string }
  /**
   * The task ended. `outputPending`: it was cancelled while an attempt ran, whose worker is still to record
   * what the attempt generated (an `output_kept` event follows once it has, unless that worker is gone).
   */
  | { type: "final"; status: TaskStatus; outputPending?: true }
  /** A cancelled attempt's output (text, usage) is now on the task's row: the row is as it stays. */
  | { type: "output_kept"; attempt: number };

/** An event with its stream entry id (also the SSE `id:`, usable as Last-Event-ID). */
export interface TaskEventEntry {
  id: string;
  event: TaskEvent;
}

/** Stream entry ids look like `1700000000000-0`. */
export function isStreamId(value: string): boolean {
  return /^\d{1,20}-\d{1,20}$/.test(value);
}

/** Orders two stream ids (`ms-seq`, or "0" for "before everything") exactly, whatever their length. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = "0", aSeq = "0"] = a.split("-");
  const [bMs = "0", bSeq = "0"] = b.split("-");
  return compareDigits(aMs, bMs) || compareDigits(aSeq, bSeq);
}

function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+/, "");
  const y = b.replace(/^0+/, "");
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

export function parseEntries(raw: [string, string[]][]): TaskEventEntry[] {
  const entries: TaskEventEntry[] = [];
  for (const [id, fields] of raw) {
    const json = fields[1];
    if (json !== undefined) entries.push({ id, event: JSON.parse(json) as TaskEvent });
  }
  return entries;
}
