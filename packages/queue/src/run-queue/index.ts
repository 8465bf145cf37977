export { RunQueue, DEFAULT_TIER_DELAYS, type RunQueueOptions, type TierDelays } from "./run-queue";
export { runQueueKeys, type RunQueueKeys } from "./keys";
export { RunQueueUpstreams, MAX_UPSTREAMS } from "./upstreams";
export { ARRIVAL_MARGIN_MS, UPSTREAM_COUNTED_MS } from "./upstreams-lua";
export type {
  UpstreamParams,
  UpstreamReport,
  UpstreamState,
  UpstreamHealth,
  UpstreamBlockReason,
  DispatchBlock,
  Reservation,
  UpstreamSnapshot,
} from "./upstreams-types";
export {
  SERVICE_TIERS,
  type ServiceTier,
  type RunQueueEntry,
  type DispatchedTask,
  type Dispatched,
  type RunQueueState,
  type RunQueueTaskState,
  type RunQueueCounts,
  type RunQueuePlace,
} from "./types";
export { RunQueueBorrows, DEFAULT_RESCUE_MS } from "./borrow";
export type { Borrow, BorrowTarget, BorrowedLease, DueTask } from "./borrow-types";
export type { BlockedHead } from "./types";
