import type { TaskRow } from "@llmq/contract";

/** "—" stands for a value that does not exist yet (a task not started has no queue wait). */
export const NONE = "—";

/** A duration for humans: 850 ms, 4.2 s, 3 min 05 s, 2 h 07 min. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return NONE;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  const minutes = Math.floor(whole / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** A waiting task's place: "next in line", "3rd in line", with "· about 12.0 s" when an estimate exists. */
export function formatQueuePlace(position: number | null | undefined, etaSeconds: number | null | undefined): string {
  if (position === null || position === undefined || position < 1) return NONE;
  const tens = position % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[position % 10] ?? "th";
  const place = position === 1 ? "next in line" : `${position}${suffix} in line`;
  return etaSeconds === null || etaSeconds === undefined ? place : `${place} · about ${formatDuration(etaSeconds)}`;
}

/** The API a task came through, as people call it; a Responses API task shows its response id too. */
export function formatEndpoint(task: Pick<TaskRow, "endpoint" | "task_id">, options: { withId?: boolean } = {}): string {
  switch (task.endpoint) {
    case "task":
      return "Task API";
    case "chat.completion":
      return "Chat completions";
    case "text_completion":
      return "Completions";
    case "response":
      return options.withId ? `Responses (resp_${task.task_id})` : "Responses";
  }
}

/** Milliseconds, as latency charts show them. */
export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? NONE : formatDuration(ms / 1000);
}

/** Completion tokens per second of generation (first token to completion), or null before there is a rate. */
export function tokensPerSecond(row: Pick<TaskRow, "usage" | "first_token_at" | "started_at" | "completed_at">, now = Date.now()): number | null {
  const tokens = row.usage.completion_tokens;
  const from = row.first_token_at ?? row.started_at;
  if (!tokens || !from) return null;
  const end = row.completed_at ? Date.parse(row.completed_at) : now;
  const seconds = (end - Date.parse(from)) / 1000;
  if (seconds <= 0) return null;
  return tokens / seconds;
}

/** A rate: 12.3 tok/s, 1,234 tok/s. */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return NONE;
  return perSecond < 100 ? `${perSecond.toFixed(1)} tok/s` : `${Math.round(perSecond).toLocaleString("en-US")} tok/s`;
}

/** A count with thousands separators; "—" when unknown. */
export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? NONE : value.toLocaleString("en-US");
}

/** A timestamp in the viewer's time zone, to the second: `2026-11-21 22:32:18`. */
export function formatTimestamp(iso: string | null | undefined): string {
  if (!iso) return NONE;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return NONE;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Seconds between two timestamps, null unless both exist. */
export function secondsBetween(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  return (Date.parse(to) - Date.parse(from)) / 1000;
}
