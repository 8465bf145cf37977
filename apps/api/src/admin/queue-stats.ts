import type { FinishedTaskStats } from "@llmq/db";

const MINUTE_MS = 60_000;
/** Buckets of `last_hour.per_minute`: the current minute and the 59 before it. */
const MINUTES = 60;

/** The first minute of the window that ends with the minute holding `now`. */
export function windowStart(now: Date): Date {
  return new Date(Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS - (MINUTES - 1) * MINUTE_MS);
}

const figures = (stats: FinishedTaskStats | undefined) => ({
  completed: stats?.completed ?? 0,
  failed: stats?.failed ?? 0,
  p50_ms: stats?.p50Ms ?? null,
  p95_ms: stats?.p95Ms ?? null,
});

/** `last_hour` of one model: window totals and 60 per-minute buckets, oldest first, empty minutes as zeros. */
export function lastHour(model: string, stats: readonly FinishedTaskStats[], start: Date) {
  const ofModel = stats.filter((row) => row.model === model);
  const byMinute = new Map(ofModel.filter((row) => row.minute).map((row) => [row.minute!.getTime(), row]));
  const perMinute = Array.from({ length: MINUTES }, (_, index) => {
    const minute = start.getTime() + index * MINUTE_MS;
    return { minute: new Date(minute).toISOString(), ...figures(byMinute.get(minute)) };
  });
  return { ...figures(ofModel.find((row) => row.minute === null)), per_minute: perMinute };
}
