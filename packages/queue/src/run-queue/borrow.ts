import type { RedisConnection } from "../connection";
import type { Borrow, BorrowTarget, BorrowedLease, DueTask } from "./borrow-types";
import type { RunQueueKeys } from "./keys";
import type { DispatchedTask } from "./types";
import type { UpstreamParams } from "./upstreams-types";

/** A leased task's row as DISPATCH returns it: id, tenant, tier, copy, deadline, tries, score, upstream. */
export type TaskRow = [string, string, string, string, string, string, string, string];

/**
 * Fallbacks (issue 16, borrow): the lender's side on the fallback model's run queue (borrow, settle,
 * release, renew) and the borrower's side on the model's own (lease, dueSoon). Reachable as
 * `runQueue.borrows`. Each call is one script on one model's keys.
 */
export class RunQueueBorrows {
  constructor(
    redis: RedisConnection,
    private readonly keys: RunQueueKeys,
    private readonly taskOf: (row: TaskRow) => DispatchedTask,
    private readonly now?: () => number,
  ) {
    void redis;
  }

  async borrow(worker: string, estimatedTokens: number, leaseMs: number, upstreams: readonly UpstreamParams[], options: { origin: string; exclude?: readonly string[] }): Promise<Borrow> {
    void [worker, estimatedTokens, leaseMs, upstreams, options, this.keys, this.taskOf, this.now];
    throw new Error("not built");
  }

  async settle(holder: string, token: string, actualTokens: number): Promise<boolean> {
    void [holder, token, actualTokens];
    throw new Error("not built");
  }

  async release(holder: string, token: string): Promise<boolean> {
    void [holder, token];
    throw new Error("not built");
  }

  async renew(holder: string, token: string, leaseMs: number): Promise<boolean> {
    void [holder, token, leaseMs];
    throw new Error("not built");
  }

  async lease(worker: string, leaseMs: number, target: BorrowTarget, fallback: string): Promise<BorrowedLease> {
    void [worker, leaseMs, target, fallback];
    throw new Error("not built");
  }

  async dueSoon(withinMs = 10_000, max = 10): Promise<DueTask[]> {
    void [withinMs, max];
    throw new Error("not built");
  }
}
