export { RunQueue, DEFAULT_TIER_DELAYS, type RunQueueOptions, type TierDelays } from "./run-queue";
export { runQueueKeys, type RunQueueKeys } from "./keys";
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
