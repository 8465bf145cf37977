import type { Logger, ModelConfig } from "@llmq/core";
import type { Reservation, RunQueue, UpstreamHealth, UpstreamParams, UpstreamReport } from "@llmq/queue";

/** A granted borrow: room on one of the fallback's upstreams, held under `holder` with `token`. */
export interface BorrowGrant {
  holder: string;
  token: string;
  upstream: string;
}

/**
 * One task's borrow of a fallback model's upstream (docs/scheduling.md, "Fallbacks"): the slot BORROW
 * reserved on the fallback's run queue, renewed with the task's own lease and settled or released when
 * the task's attempt ends. It is also the attempt's upstream queue (Failover's `report` and `reserve`):
 * REPORTs go to the fallback's upstreams, and a failover before the first token gives the borrow back
 * and borrows again, leaving out the upstreams that failed.
 */
export class Borrowed {
  private grant: BorrowGrant | null;

  constructor(
    /** The fallback model (the lender) and its run queue. */
    readonly fallback: ModelConfig,
    private readonly queue: RunQueue,
    /** The model whose task runs on it (the borrower). */
    private readonly origin: string,
    private readonly workerId: string,
    private readonly leaseMs: number,
    /** The tokens borrowed for (the task's estimate): what a borrow again asks for. */
    private readonly estimatedTokens: number,
    grant: BorrowGrant,
    private readonly logger: Logger,
  ) {
    this.grant = grant;
  }

  /** The fallback's upstream the borrow holds now (null once given back). */
  get upstream(): string | null {
    return this.grant?.upstream ?? null;
  }

  /** Extends the borrow's lease (with its task's); false when it is no longer held. */
  async renew(): Promise<boolean> {
    const grant = this.grant;
    if (!grant) return false;
    return this.queue.borrows.renew(grant.holder, grant.token, this.leaseMs);
  }

  /** The borrowed request is done: the slot is freed and the fallback's minute budget takes the real usage. */
  async settle(actualTokens: number): Promise<void> {
    const grant = this.take();
    if (grant) await this.queue.borrows.settle(grant.holder, grant.token, actualTokens);
  }

  /** Nothing was served on it: the slot is freed and its tokens refunded. Safe to call twice. */
  async release(): Promise<void> {
    const grant = this.take();
    if (grant) await this.queue.borrows.release(grant.holder, grant.token);
  }

  private take(): BorrowGrant | null {
    const grant = this.grant;
    this.grant = null;
    return grant;
  }

  /** REPORT to the fallback's upstream (Failover's queue). */
  report(upstream: UpstreamParams, outcome: UpstreamReport): Promise<UpstreamHealth> {
    return this.queue.upstreams.report(upstream, outcome);
  }

  /**
   * Failover's RESERVE for a borrowed task: gives the borrow back and borrows again on the fallback,
   * leaving out `exclude`. No room now: `blocked` (with the fallback's wake) or, when the fallback has
   * tasks of its own waiting or is paused, nothing to wait for (the task is handed back to its model).
   */
  async reserve(_taskId: string, _token: string, exclude: readonly string[], upstreams: readonly UpstreamParams[]): Promise<Reservation> {
    await this.release().catch((error: unknown) => this.logger.warn({ err: error }, "could not give a borrow back; its lease runs out"));
    const answer = await this.queue.borrows.borrow(this.workerId, this.estimatedTokens, this.leaseMs, upstreams, { origin: this.origin, exclude });
    if (answer.status === "granted") {
      this.grant = { holder: answer.holder, token: answer.token, upstream: answer.upstream };
      return { upstream: answer.upstream };
    }
    return { upstream: null, blocked: answer.status === "blocked" ? answer.blocked : null, lost: false };
  }
}
