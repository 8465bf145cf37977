import { performance } from "node:perf_hooks";

/**
 * Wall-clock time in microseconds for the envelope's `start_time`/`end_time`: Date has milliseconds
 * only, so the microseconds come from the monotonic clock (`performance.now()`), anchored to Date.now()
 * and re-anchored whenever the two drift a millisecond apart (NTP steps, a suspended machine).
 */
let anchor = Date.now() - performance.now();

/** `monotonic` (a `performance.now()` reading, default now) as microseconds since 1970. */
export function epochMicros(monotonic: number = performance.now()): number {
  const now = performance.now();
  const wall = Date.now();
  // Date.now() floors to the millisecond: anchor + now belongs in [wall, wall + 1).
  if (anchor + now < wall - 1 || anchor + now >= wall + 2) anchor = wall - now;
  return Math.round((anchor + monotonic) * 1000);
}
