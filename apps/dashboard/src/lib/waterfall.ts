import type { TaskRow } from "@llmq/contract";

export interface WaterfallSegment {
  label: "queued" | "starting" | "generating";
  /** Offset and width as percentages of the whole bar. */
  offset: number;
  width: number;
  seconds: number;
  /** Still going (the task has not reached the next step yet). */
  open: boolean;
}

/**
 * The task's life as consecutive segments: queued (created -> started), starting (started -> first token),
 * generating (first token -> completed). A step not reached yet runs to `now` while the task is live and
 * is left out once it is final (a task cancelled while queued has only its queued segment).
 */
export function waterfall(task: Pick<TaskRow, "created_at" | "started_at" | "first_token_at" | "completed_at">, final: boolean, now: number): { segments: WaterfallSegment[]; totalSeconds: number } {
  const created = Date.parse(task.created_at);
  const marks = [task.started_at, task.first_token_at, task.completed_at].map((iso) => (iso ? Date.parse(iso) : null));
  const end = marks[2] ?? (final ? Math.max(created, ...marks.filter((m): m is number => m !== null)) : Math.max(now, created));
  const total = Math.max(end - created, 1);
  const labels = ["queued", "starting", "generating"] as const;
  const segments: WaterfallSegment[] = [];
  let from = created;
  for (let i = 0; i < labels.length; i++) {
    const mark = marks[i] ?? null;
    if (mark === null && final) break;
    const to = mark ?? end;
    segments.push({ label: labels[i]!, offset: ((from - created) / total) * 100, width: (Math.max(0, to - from) / total) * 100, seconds: Math.max(0, to - from) / 1000, open: mark === null });
    if (mark === null) break;
    from = mark;
  }
  return { segments, totalSeconds: (end - created) / 1000 };
}
