import { constrainedMemory } from "node:process";
import { totalmem } from "node:os";
import { getHeapStatistics } from "node:v8";

/**
 * What one open stream may cost a process, with room to spare: the bench measures the real figure
 * (KiB per open stream, BENCH_ONLY=memory); a slow reader may hold more in its socket's buffer.
 */
const BUDGET_PER_STREAM_BYTES = 64 * 1024;
/** The share of the process's memory open streams may take; the rest is for everything else. */
const STREAM_SHARE = 0.5;

/**
 * MAX_OPEN_STREAMS_PER_PROCESS when unset: half of the memory the process may use (the smaller of V8's
 * heap limit and the container's or machine's memory), at BUDGET_PER_STREAM_BYTES a stream, so the
 * process answers 503 well before it runs out.
 */
export function defaultProcessStreamCeiling(): number {
  const machine = Math.min(constrainedMemory() || Infinity, totalmem()); // 2^64 when unconstrained
  const memory = Math.min(getHeapStatistics().heap_size_limit, machine);
  return Math.max(100, Math.floor((memory * STREAM_SHARE) / BUDGET_PER_STREAM_BYTES));
}
