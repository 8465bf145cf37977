import type { RedisConnection } from "../connection";
import { bindScripts } from "./bind-scripts";
import { BORROW, DUE_SOON, END_BORROW, LEASE_FOR_BORROW, RENEW_BORROW } from "./borrow-scripts";
import type { Borrow, BorrowTarget, BorrowedLease, DueTask } from "./borrow-types";
import type { RunQueueKeys } from "./keys";
import type { DispatchedTask, ServiceTier } from "./types";
import { MAX_UPSTREAMS, parseBlock, upstreamArgs } from "./upstreams";
import type { UpstreamParams } from "./upstreams-types";

/** A leased task's row as DISPATCH returns it: id, tenant, tier, copy, deadline, tries, score, upstream. */
export type TaskRow = [string, string, string, string, string, string, string, string];

const HOLDER = /^b:\d{1,15}$/;
const MAX_DUE = 100;
/** How far ahead the expiry rescue looks by default (ms): a task due to expire within it may borrow a fallback. */
export const DEFAULT_RESCUE_MS = 10_000;

type Commands = {
  llmqRqBorrow(...args: string[]): Promise<[string, string?, string?, string?, number?] | [string, string, number, string[]]>;
  llmqRqEndBorrow(...args: string[]): Promise<number>;
  llmqRqRenewBorrow(...args: string[]): Promise<number>;
  llmqRqLeaseForBorrow(...args: string[]): Promise<[string, string?, number?, TaskRow?]>;
  llmqRqDueSoon(...args: string[]): Promise<[string, string, string, string, string][]>;
};

function commandsOn(redis: RedisConnection): Commands {
  return bindScripts<Commands>(redis, {
    llmqRqBorrow: BORROW,
    llmqRqEndBorrow: END_BORROW,
    llmqRqRenewBorrow: RENEW_BORROW,
    llmqRqLeaseForBorrow: LEASE_FOR_BORROW,
    llmqRqDueSoon: DUE_SOON,
  });
}

function positiveTokens(value: number, what: string): string {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`run queue: ${what} must be a positive number of tokens`);
  return String(Math.ceil(value));
}

function leaseArg(leaseMs: number): string {
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError("run queue: a lease must last a positive number of ms");
  return String(Math.floor(leaseMs));
}

function label(value: string, what: string): string {
  if (value.length === 0 || value.length > 200) throw new RangeError(`run queue: ${what} must be 1-200 characters`);
  return value;
}

function holderArg(holder: string): string {
  if (!HOLDER.test(holder)) throw new RangeError(`run queue: ${JSON.stringify(holder)} is not a borrow holder`);
  return holder;
}

/**
 * Fallbacks (issue 16, borrow), reachable as `runQueue.borrows`. On the FALLBACK's run queue (the
 * lender): `borrow`, `settle`, `release`, `renew`. On the model's OWN run queue (the borrower): `lease`
 * (one task, no upstream of its own reserved) and `dueSoon` (the expiry rescue's candidates). Each call
 * is one script on one model's keys; the order of calls, and what a worker does on each answer, is in
 * docs/scheduling.md ("Fallbacks").
 */
export class RunQueueBorrows {
  private readonly commands: Commands;

  constructor(
    redis: RedisConnection,
    private readonly keys: RunQueueKeys,
    private readonly taskOf: (row: TaskRow) => DispatchedTask,
    private readonly now?: () => number,
  ) {
    this.commands = commandsOn(redis);
  }

  private head(): string[] {
    const k = this.keys;
    return [k.state, k.tenants, k.weights, k.leased, k.counts, k.dead, k.base, this.now ? String(this.now()) : ""];
  }

  /**
   * On the fallback's queue: reserves room for `estimatedTokens` on one of its `upstreams` (the same
   * rules as its own dispatch: room, least load, probe) under a lease of `leaseMs`, only while it has
   * nothing of its own waiting (`busy`) and is not paused. `origin` (the borrowing model) is kept for the
   * record; `exclude` skips upstreams that just failed the request.
   */
  async borrow(worker: string, estimatedTokens: number, leaseMs: number, upstreams: readonly UpstreamParams[], options: { origin: string; exclude?: readonly string[] }): Promise<Borrow> {
    if (upstreams.length === 0) throw new RangeError("run queue: a borrow needs the fallback's upstreams");
    const skip = [...new Set(options.exclude ?? [])].slice(0, MAX_UPSTREAMS);
    const answer = await this.commands.llmqRqBorrow(
      ...this.head(),
      label(worker, "a worker id"),
      positiveTokens(estimatedTokens, "a borrow's estimate"),
      leaseArg(leaseMs),
      label(options.origin, "a borrow's origin"),
      String(skip.length),
      ...skip,
      ...upstreamArgs(upstreams),
    );
    const status = answer[0];
    if (status === "granted") {
      const [, holder, token, upstream, leaseUntil] = answer as [string, string, string, string, number];
      return { status, holder, token, upstream, leaseUntil: Number(leaseUntil) };
    }
    if (status === "blocked") {
      const [, why, wake, reasons] = answer as [string, string, number, string[]];
      return { status, blocked: parseBlock(why, wake, reasons)! };
    }
    return { status: status as "busy" | "paused" };
  }

  /** On the fallback's queue: the borrowed request is done; its slot is freed and its tokens become `actualTokens`. False for a wrong or stale token. */
  async settle(holder: string, token: string, actualTokens: number): Promise<boolean> {
    const tokens = Math.max(0, Number.isFinite(actualTokens) ? Math.floor(actualTokens) : 0);
    return (await this.commands.llmqRqEndBorrow(...this.head(), holderArg(holder), token, String(tokens))) === 1;
  }

  /** On the fallback's queue: the borrow is not used (nothing was served); its slot is freed and its tokens refunded. False for a wrong or stale token. */
  async release(holder: string, token: string): Promise<boolean> {
    return (await this.commands.llmqRqEndBorrow(...this.head(), holderArg(holder), token, "")) === 1;
  }

  /** On the fallback's queue: extends the borrow's lease (renew it with its task's lease). False for a wrong or stale token. */
  async renew(holder: string, token: string, leaseMs: number): Promise<boolean> {
    return (await this.commands.llmqRqRenewBorrow(...this.head(), holderArg(holder), token, leaseArg(leaseMs))) === 1;
  }

  /**
   * On the model's own queue: leases ONE task for a borrow, without reserving any of the model's
   * upstreams (the task's `upstream` is null; its settle, release and expiry leave them alone): the
   * fair order's next task if it fits in `head.maxEstimatedTokens`, or the waiting task `id` (a rescue).
   * `fallback` names where it runs (kept on the entry).
   */
  async lease(worker: string, leaseMs: number, target: BorrowTarget, fallback: string): Promise<BorrowedLease> {
    const [mode, value] = "head" in target ? ["head", positiveTokens(target.head.maxEstimatedTokens, "a borrow's estimate")] : ["id", label(target.id, "a task id")];
    const [status, a, b, row] = await this.commands.llmqRqLeaseForBorrow(...this.head(), label(worker, "a worker id"), leaseArg(leaseMs), label(fallback, "a fallback"), mode, value);
    if (status === "leased") return { status, token: a!, leaseUntil: Number(b), task: this.taskOf(row!) };
    if (status === "larger") return { status, head: { id: a!, estimatedTokens: Number(b) } };
    return { status: status as "empty" | "gone" | "paused" };
  }

  /** On the model's own queue: waiting tasks whose queue deadline falls within `withinMs` from now, soonest first, at most `max` (<= 100). Read-only. */
  async dueSoon(withinMs = DEFAULT_RESCUE_MS, max = 10): Promise<DueTask[]> {
    const n = Math.max(0, Math.min(MAX_DUE, Math.floor(max)));
    if (n === 0 || !(withinMs > 0)) return [];
    const rows = await this.commands.llmqRqDueSoon(...this.head(), String(Math.floor(withinMs)), String(n));
    return rows.map(([id, tenant, tier, estimate, deadline]) => ({ id, tenant, tier: tier as ServiceTier, estimatedTokens: Number(estimate), queueDeadline: Number(deadline) }));
  }
}
