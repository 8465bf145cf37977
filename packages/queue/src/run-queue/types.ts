import type { DispatchBlock } from "./upstreams-types";

/** OpenAI's service tiers: inside a tenant, a tier sets how long a task may be passed by newer work. */
export type ServiceTier = "priority" | "default" | "flex";

export const SERVICE_TIERS: readonly ServiceTier[] = ["priority", "default", "flex"];

/** One task handed to the run queue. */
export interface RunQueueEntry {
  /** The task id (enqueueing an id that is already in the queue changes nothing). */
  id: string;
  /** Who shares fairly: the API key's id, else `u:<userId>`. */
  tenant: string;
  /**
   * The tenant's `fair_share_weight` (last writer wins), >= 1 in practice. Absent: the weight the tenant
   * was last given on this queue, else 1 (a re-enqueue by the sweeper, which does not know it).
   */
  weight?: number;
  tier: ServiceTier;
  /** Tokens the task is expected to use (prompt estimate + max_tokens): charged at dispatch, corrected at settle. */
  estimatedTokens: number;
  /** When the task must have started (epoch ms), or null. Kept and handed back; the engine expires it. */
  queueDeadline: number | null;
  /** A copy of the request (<= 16 KiB), or null when the worker must read the row. */
  requestCopy: string | null;
  /**
   * A batch's item (counted apart in `batchWaiting`: backpressure leaves it out, its batch's own limits
   * admitted it); absent or false: an interactive task, counted whatever its tier.
   */
  batch?: boolean;
}

/** A task leased to a worker by `dispatch`. */
export interface DispatchedTask {
  id: string;
  tenant: string;
  tier: ServiceTier;
  requestCopy: string | null;
  queueDeadline: number | null;
  /** Tries spent by earlier failures (a retry with backoff); releases that were nobody's fault do not count. */
  tries: number;
  /** When it was enqueued (ms, the queue's clock): a retried task keeps its first stamp. */
  enqueuedAt: number;
  /** The upstream reserved for it (dispatch given the model's upstreams), else null. */
  upstream: string | null;
}

/** Borrow hook (issue 16): the task at the head of the line that a blocked dispatch put back, what a fallback borrow is for. */
export interface BlockedHead {
  id: string;
  estimatedTokens: number;
}

/** What one `dispatch` call leased: every task under one token, until `leaseUntil` (Redis time, ms). */
export interface Dispatched {
  token: string;
  leaseUntil: number;
  tasks: DispatchedTask[];
  /** When something this queue holds falls due (a delayed task, an expiring lease), ms, or null: how long an idle loop may block. */
  wakeAt: number | null;
  /** Set when the call stopped because no upstream had room for the task at the head of the line. */
  blocked: DispatchBlock | null;
  /** Borrow hook (issue 16): while blocked, the task at the head that stayed in line (a fallback may serve it), else null. */
  blockedHead: BlockedHead | null;
}

export type RunQueueState = "waiting" | "leased" | "delayed" | "dead";

export interface RunQueueTaskState {
  state: RunQueueState;
  tenant: string;
  tier: ServiceTier;
  /** Times its lease expired without a settle or release. */
  stalls: number;
  /** Lease end (ms) while leased. */
  leaseUntil: number | null;
}

export interface RunQueueCounts {
  waiting: number;
  leased: number;
  /** Tasks waiting for a retry's backoff (or a short wait without a try spent) before they are back in line. */
  delayed: number;
  dead: number;
  /** Waiting tasks that are batch items (of any tier): `waiting - batchWaiting` is what backpressure bounds. */
  batchWaiting: number;
  /** Waiting tasks by tenant, then tier (tenants and tiers with none are left out). */
  waitingByTenant: Record<string, Partial<Record<ServiceTier, number>>>;
}

/** A waiting task's place: an estimate of the tasks dispatched before it (0 = next), and the tasks leased now. */
export interface RunQueuePlace {
  ahead: number;
  leased: number;
}
