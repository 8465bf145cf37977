/**
 * Flexstack's request times, as its envelope has them: `start_time`/`end_time` like
 * `2024-03-05 21:24:55.572492` (UTC, no zone, six digits of microseconds) and `total_time_by_second`
 * with six decimals. The one formatter of both; the API times requests in microseconds since 1970.
 */
export const FLEX_TIME_PATTERN = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/;

/** `epochMicros` (microseconds since 1970, UTC) as `2024-03-05 21:24:55.572492`. */
export function flexTime(epochMicros: number): string {
  const micros = Math.floor(epochMicros);
  const millis = Math.floor(micros / 1000);
  const iso = new Date(millis).toISOString(); // 2024-03-05T21:24:55.572Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micros - millis * 1000).padStart(3, "0")}`;
}

/** A duration in microseconds as seconds with six decimals (`5.029042`). */
export function flexSeconds(micros: number): number {
  return Math.round(micros) / 1e6;
}
