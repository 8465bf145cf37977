/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const median = (values: readonly number[]) => quantile(values, 0.5);

/** Runs `once` `warmups` times unrecorded, then `repetitions` times; returns the recorded results. */
export async function repeat<T>(repetitions: number, once: (index: number) => Promise<T>, warmups = 1): Promise<T[]> {
  for (let i = 0; i < warmups; i++) await once(-1 - i);
  const results: T[] = [];
  for (let i = 0; i < repetitions; i++) results.push(await once(i));
  return results;
}

/** Per-field medians of several repetitions' numeric results. */
export function medians<T extends Record<string, number>>(runs: readonly T[]): T {
  const out: Record<string, number> = {};
  for (const key of Object.keys(runs[0] ?? {})) out[key] = median(runs.map((run) => run[key]!));
  return out as T;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const round = (value: number, digits = 2) => (Number.isFinite(value) ? Math.round(value * 10 ** digits) / 10 ** digits : value);
