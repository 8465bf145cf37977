import type { Logger, ModelConfig } from "@llmq/core";
import type { ServedBy } from "@llmq/db";
import type { RunQueueUpstreams } from "@llmq/queue";
import { type UpstreamFailure, abortableSleep } from "@llmq/providers";

/** The worker's upstream counters (WorkerMetrics). */
export interface UpstreamCounters {
  upstreamRequest(model: string, upstream: string, outcome: string, state: string | null): void;
  failover(model: string, from: string, to: string): void;
}

export interface FailoverDeps {
  /** The model's upstream capacity and health in its run queue. */
  queue: Pick<RunQueueUpstreams, "report" | "reserve">;
  /** The models file's `scheduling.pause_hold_max_ms`. */
  pauseHoldMaxMs: number;
  metrics?: UpstreamCounters;
  /**
   * A borrowed task (running on a fallback's upstreams): when every upstream failed it with a connection
   * error, a timeout or a 5xx, it goes back to its own model's queue in its place (no try spent) instead
   * of following the retry rule: the fallback was a loan, and its own model may serve it later.
   */
  handBackWhenExhausted?: boolean;
}

/** The leased task: its id, the upstream DISPATCH reserved for it and the token holding its lease. */
export interface FailoverTask {
  taskId: string;
  upstream?: string | null;
  token?: string;
}

/** A failover found no upstream soon enough: the task goes back to its queue (no try spent). */
export class HandBack extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    override readonly cause: unknown,
  ) {
    super("no upstream of the model can serve the task soon");
  }
}

/** RESERVE answered that the dispatch token no longer holds the task. */
export class LeaseLost extends Error {
  constructor() {
    super("the task's lease was lost");
  }
}

/**
 * One attempt's upstreams: REPORT after each request, and where a choice goes when its upstream fails
 * before the first token. Choice 0 holds the task's reservation in the run queue and moves it with
 * RESERVE; the other choices of the task (n > 1, several prompts) ride on it and fail over locally, to
 * the next upstream they have not tried. With none soon: hold inside the attempt when an upstream comes
 * back within `scheduling.pause_hold_max_ms` and before the run deadline, else hand the task back.
 */
export class Failover {
  readonly initial: string;
  /** False when the task was leased without upstreams (no reservation to move, nothing to report). */
  private readonly tracked: boolean;

  constructor(
    private readonly deps: FailoverDeps,
    private readonly model: ModelConfig,
    private readonly task: FailoverTask,
    private readonly signal: AbortSignal,
    private readonly runDeadline: number,
    private readonly logger: Logger,
  ) {
    const leased = task.upstream && model.upstreams.some((u) => u.name === task.upstream) ? task.upstream : null;
    this.tracked = leased !== null && task.token !== undefined;
    this.initial = leased ?? model.upstreams[0]!.name;
    this.servedBy = this.initial;
  }

  /** The upstream of choice 0's last request (what the task records as having served it). */
  servedBy: string;

  /** What the task's row records as having served this attempt: choice 0's upstream, and the model it belongs to (the task's own, or the fallback it borrowed). */
  served(): ServedBy {
    return { upstream: this.servedBy, servedModel: this.model.id };
  }

  upstreamModel(name: string): string {
    return this.model.upstreams.find((u) => u.name === name)!.upstreamModel;
  }

  private params(name: string) {
    return this.model.upstreams.find((u) => u.name === name)!;
  }

  /** Tells the run queue how a request to `upstream` ended (never fails the attempt: a lost report is logged). */
  async report(upstream: string, outcome: { kind: "ok"; latencyMs: number } | UpstreamFailure): Promise<void> {
    let state: string | null = null;
    if (this.tracked) {
      try {
        state = (await this.deps.queue.report(this.params(upstream), outcome)).state;
      } catch (error) {
        this.logger.warn({ err: error, upstream }, "could not report an upstream request's outcome to the run queue");
      }
    }
    this.deps.metrics?.upstreamRequest(this.model.id, upstream, outcome.kind === "fail" ? outcome.error : outcome.kind, state);
  }

  /**
   * A request that succeeded, reported without making the caller wait: the REPORT is issued at once (on
   * the run queue's connection, so ahead of the task's settle), its reply only feeds the metrics. A lost
   * report is logged, as with `report`.
   */
  reportBeside(upstream: string, outcome: { kind: "ok"; latencyMs: number }): void {
    void this.report(upstream, outcome);
  }

  /** The upstream choice `index` goes on after `failed` failed before its first token; throws to stop the attempt. */
  async next(index: number, failed: string, failure: UpstreamFailure, error: unknown): Promise<string> {
    if (!this.tracked) throw error;
    const excluded = (this.tried.get(index) ?? new Set<string>()).add(failed);
    this.tried.set(index, excluded);
    const all = this.model.upstreams.map((u) => u.name);
    const hard = (this.failedHard.get(index) ?? new Set<string>()).add(failed);
    if (failure.kind === "fail") this.failedHard.set(index, hard);
    else hard.delete(failed);
    // 5xx and network failures on every upstream: today's retry rule (a try spent).
    if (failure.kind === "fail" && all.every((name) => (index === 0 ? hard : excluded).has(name))) {
      if (this.deps.handBackWhenExhausted) throw new HandBack(failure, error);
      throw error;
    }
    const holdMax = this.deps.pauseHoldMaxMs;
    if (index !== 0) {
      // The task's reservation is choice 0's: another choice takes the next upstream it has not tried.
      const free = all.find((name) => !excluded.has(name));
      if (free) return free;
      const wait = failure.kind === "rate_limited" ? (failure.retryAfterMs ?? 1_000) : Infinity;
      if (wait <= holdMax && Date.now() + wait < this.runDeadline) {
        await abortableSleep(wait, this.signal);
        excluded.clear();
        return failed;
      }
      throw new HandBack(failure, error);
    }
    // Upstreams that failed hard are left out; a paused one (429, quota) is kept out by its pause, whose
    // end is then the wake of the answer.
    let exclude = [...hard];
    for (;;) {
      const reservation = await this.deps.queue.reserve(this.task.taskId, this.task.token!, exclude, this.model.upstreams);
      if (reservation.upstream !== null) return reservation.upstream;
      if (reservation.lost) throw new LeaseLost();
      const wakeAt = reservation.blocked?.wakeAt ?? null;
      const now = Date.now();
      if (wakeAt === null || wakeAt - now > holdMax || wakeAt >= this.runDeadline) throw new HandBack(failure, error);
      // Held inside the attempt (no slot held meanwhile); then every upstream may be tried again.
      await abortableSleep(Math.max(0, wakeAt - now), this.signal);
      exclude = [];
      excluded.clear();
      hard.clear();
    }
  }

  /** Per choice, the upstreams that failed it since it last waited. */
  private readonly tried = new Map<number, Set<string>>();
  /** Per choice, those of them that failed with a connection error, a timeout or a 5xx (RESERVE leaves them out). */
  private readonly failedHard = new Map<number, Set<string>>();
}
