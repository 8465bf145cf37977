import type { BlockedHead, DispatchedTask } from "./types";
import type { DispatchBlock } from "./upstreams-types";

/**
 * Fallbacks in the run queue (issue 16, borrow). A task of model A runs on an upstream of its fallback
 * B in two steps, one per model (their keys are in different hash slots): BORROW reserves room on one
 * of B's upstreams, only while B has nothing waiting, then A leases the task without reserving any of
 * A's upstreams. Each side is a lease of its own: a worker that dies between the steps, or after both,
 * leaves leases that expire (see docs/scheduling.md, "Fallbacks").
 */

/** BORROW's answer on the fallback's run queue. */
export type Borrow =
  /** Room reserved on `upstream` under `holder` until `leaseUntil`; settle, release or renew it with `token`. */
  | { status: "granted"; holder: string; token: string; upstream: string; leaseUntil: number }
  /** The fallback model has tasks of its own waiting: it never lends then (its tenants go first). */
  | { status: "busy" }
  /** The fallback's run queue is paused (admin): it lends nothing either. */
  | { status: "paused" }
  /** None of the fallback's upstreams has room for the estimate (same rules as its own dispatch). */
  | { status: "blocked"; blocked: DispatchBlock };

/** What to lease on the model's own run queue for a borrow. */
export type BorrowTarget =
  /** The task the model's fair order picks next, if its estimate fits in what was borrowed. */
  | { head: { maxEstimatedTokens: number } }
  /** That waiting task (an expiry rescue: see `dueSoon`), whatever its place. */
  | { id: string };

/** The leasing step of a borrow, on the model's own run queue. */
export type BorrowedLease =
  /** Leased under `token` (no upstream of the model reserved: `task.upstream` is null). */
  | { status: "leased"; token: string; leaseUntil: number; task: DispatchedTask }
  /** The head needs more than was borrowed: release the borrow, borrow again for `head` if it fits. */
  | { status: "larger"; head: BlockedHead }
  /** Nothing waits (head), or the task is no longer waiting (id): release the borrow. */
  | { status: "empty" | "gone" | "paused" };

/** A waiting task whose queue deadline falls due soon (an expiry rescue candidate). */
export interface DueTask {
  id: string;
  tenant: string;
  tier: DispatchedTask["tier"];
  estimatedTokens: number;
  queueDeadline: number;
}
