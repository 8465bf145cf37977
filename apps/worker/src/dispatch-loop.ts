import type { Logger, ModelConfig } from "@llmq/core";
import { type BorrowTarget, DEFAULT_RESCUE_MS, type Dispatched, type DispatchedTask, type RedisConnection, type RunQueue, type UpstreamParams } from "@llmq/queue";
import { Borrowed } from "./borrowed";
import type { LeasedTask, RunOutcome } from "./text-completion-processor";

/** The longest an idle loop blocks on its wake marker before it looks again (a lost marker costs at most this). */
const MAX_IDLE_BLOCK_MS = 5_000;
/** Shortest block: below it, BZPOPMIN's timeout would round to "forever" or spin. */
const MIN_IDLE_BLOCK_MS = 10;
/** After a failed dispatch (Redis out of reach), the next try waits this long. */
const DISPATCH_ERROR_PAUSE_MS = 1_000;
/** The expiry rescue looks at most this often per model while the model is blocked. */
const RESCUE_EVERY_MS = 1_000;
/** Tasks remembered as refused by a fallback (a capability it lacks), so the next borrow tries the next fallback. */
const MAX_REMEMBERED_SKIPS = 10_000;
/**
 * A borrowed task handed back by its fallback (every upstream of it failed before the first token, or it
 * stopped lending) is not borrowed on that fallback again for this long: no try is spent on a hand-back,
 * so without it a dead fallback would be asked again at once, over and over.
 */
const FALLBACK_AGAIN_AFTER_MS = 5_000;

/** A fallback model of the loop's model: where its tasks may borrow an upstream (docs/scheduling.md, "Fallbacks"). */
export interface FallbackTarget {
  model: ModelConfig;
  /** The fallback's own run queue (the lender). */
  queue: RunQueue;
}

/** How a fallback was tried or ended (`llmq_fallbacks_total`'s outcome). */
export type FallbackOutcome = "served" | "failed" | "retried" | "handed_back" | "skipped" | "busy" | "paused" | "blocked";

export interface DispatchLoopOptions {
  /** The model's run queue (its commands go on the process's auto-pipelined connection). */
  queue: RunQueue;
  /** A connection of this loop's own, where it blocks (BZPOPMIN) on the wake marker while idle. */
  blocking: RedisConnection;
  /** The lease holder's id (one per process, beaten by its heartbeat). */
  workerId: string;
  /** Tasks of this model that run at once in this process (model.concurrency). */
  concurrency: number;
  /** The model's upstreams (capacity, health): each task is leased with one that has room. Empty: none tracked. */
  upstreams?: readonly UpstreamParams[];
  /** How long a lease lasts unrenewed; renewed every third of it. */
  leaseMs: number;
  /** The longest an idle loop blocks on its wake marker before it looks again (default 5 s: what a lost marker could cost). */
  maxIdleBlockMs?: number;
  /** Runs one attempt of a leased task. */
  run(task: LeasedTask, signal: AbortSignal): Promise<RunOutcome>;
  /** Told of each task leased (metrics: its queue wait). */
  onLeased?(task: DispatchedTask): void;
  /** The loop's model id (a borrow's origin). */
  modelId?: string;
  /** The model's fallbacks, in order: borrowed when every upstream of the model is out, or to rescue a task about to expire. */
  fallbacks?: readonly FallbackTarget[];
  /** The expiry rescue borrows for waiting tasks whose queue deadline falls within this (default 10 s). */
  rescueWithinMs?: number;
  /** Told of each fallback tried and how it went (metrics). */
  onFallback?(fallback: string, outcome: FallbackOutcome): void;
  logger: Logger;
}

interface Running {
  token: string;
  abort: AbortController;
  ended: Promise<void>;
  /** Leased for a borrow: the fallback's slot it runs on (renewed, settled, released with the task). */
  borrowed?: Borrowed;
}

/**
 * One model's dispatch in one process: leases as many tasks as it has free local slots (one DISPATCH call
 * serves them all, fairly chosen by the run queue), runs each with the attempt runner, and tells the run
 * queue how each ended: settle with the tokens it used (issued just before the next dispatch, so the two
 * share a round trip on the auto-pipelined connection), or defer it (a retry's backoff, a spent try; a
 * wait for Postgres, none). Idle, it blocks on the queue's wake marker (added by enqueue and release)
 * until work arrives or something it holds falls due (a delayed task, an expiring lease), at most 5 s.
 * Leases are renewed every third of their length; a process that dies stops renewing, and its tasks go
 * back in line when their leases end (or at once, when a peer sees its heartbeat stop: see heartbeat.ts).
 */
export class DispatchLoop {
  private readonly running = new Map<string, Running>();
  private stopping = false;
  private wakeLocal: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Tasks handed back at shutdown: their runs' endings must not touch the run queue any more. */
  private readonly handedBack = new Set<string>();
  /** The BZPOPMIN in flight on the loop's connection, if any. */
  private pendingBlock: Promise<void> | null = null;
  /**
   * A BZPOPMIN took the wake marker and no DISPATCH has run since. A wait cut short locally (a task ended)
   * leaves its BZPOPMIN blocked while the loop dispatches; if that one takes the marker of a task enqueued
   * after the DISPATCH ran, the next wait must not block on a marker already taken.
   */
  private markerTaken = false;
  /** When the expiry rescue last looked. */
  private lastRescue = 0;
  /** Per task, the fallbacks not to borrow for it again before a time (a capability they lack: never). */
  private readonly skips = new Map<string, Map<string, number>>();

  constructor(private readonly options: DispatchLoopOptions) {}

  get queueName(): string {
    return this.options.queue.keys.base;
  }

  /** Task ids running now (tests, shutdown). */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  start(): void {
    this.loopDone = this.loop();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.options.leaseMs / 3)));
  }

  /** Stops the task's attempt if this loop runs it (a cancel); true when it did. */
  cancel(taskId: string, reason: string): boolean {
    const running = this.running.get(taskId);
    if (!running) return false;
    running.abort.abort(new Error(reason));
    return true;
  }

  private async loop(): Promise<void> {
    const { queue, workerId, concurrency, leaseMs, logger } = this.options;
    while (!this.stopping) {
      const free = concurrency - this.running.size;
      if (free <= 0) {
        await this.slotFreed();
        continue;
      }
      let dispatched;
      try {
        dispatched = await queue.dispatch(workerId, free, leaseMs, undefined, this.options.upstreams ?? []);
      } catch (error) {
        if (this.stopping) break;
        logger.warn({ err: error, queue: this.queueName }, "dispatch failed; trying again shortly");
        await this.sleep(DISPATCH_ERROR_PAUSE_MS);
        continue;
      }
      if (this.stopping) {
        // Leased while stopping: straight back, uncharged and in place.
        for (const task of dispatched.tasks) await queue.release(task.id, dispatched.token, { keepPlace: true }).catch(() => undefined);
        break;
      }
      for (const task of dispatched.tasks) this.launch(task, dispatched.token);
      // Blocked with fallbacks: the head, or tasks about to expire, may borrow a fallback's upstream.
      if (dispatched.blocked && (this.options.fallbacks?.length ?? 0) > 0) {
        let borrowed = 0;
        try {
          borrowed = await this.fallBack(dispatched, free - dispatched.tasks.length);
        } catch (error) {
          if (this.stopping) break;
          logger.warn({ err: error, queue: this.queueName }, "borrowing a fallback failed; trying again shortly");
        }
        // Something borrowed: look again at once (the next head may borrow too).
        if (borrowed > 0) continue;
      }
      // No upstream had room for the task at the head of the line: look again when one may (a pause or a
      // cooldown ends, the window frees), at a settle or report (the wake marker), at most 5 s.
      if (dispatched.blocked) await this.idle(earliest(dispatched.blocked.wakeAt, dispatched.wakeAt, this.nextRescue(dispatched)));
      // Fewer than the free slots: the call took all there was (work left wakes the marker), so wait for
      // the next rather than ask again at once (an empty DISPATCH while the tasks just leased start).
      else if (dispatched.tasks.length < free) await this.idle(dispatched.wakeAt);
    }
  }

  /**
   * The model is blocked: borrow a fallback's upstream for the task at the head of the line (when every
   * upstream of the model is out) and, at most once a second, for waiting tasks whose queue deadline is
   * near (the expiry rescue, whatever blocked the model), within `free` local slots. Returns how many
   * tasks it leased (and launched).
   */
  private async fallBack(dispatched: Dispatched, free: number): Promise<number> {
    let leased = 0;
    const head = dispatched.blockedHead;
    if (dispatched.blocked?.reason === "unavailable" && head && free > 0) {
      if (await this.borrowFor(head.id, head.estimatedTokens, { head: { maxEstimatedTokens: head.estimatedTokens } })) leased++;
    }
    if (free - leased > 0 && Date.now() - this.lastRescue >= RESCUE_EVERY_MS) {
      this.lastRescue = Date.now();
      for (const due of await this.options.queue.borrows.dueSoon(this.options.rescueWithinMs ?? DEFAULT_RESCUE_MS, free - leased)) {
        if (this.stopping || free - leased <= 0) break;
        if (await this.borrowFor(due.id, due.estimatedTokens, { id: due.id })) leased++;
      }
    }
    return leased;
  }

  /** When the expiry rescue may look again while the model stays blocked (null: it has no fallbacks). */
  private nextRescue(dispatched: Dispatched): number | null {
    if (!dispatched.blocked || (this.options.fallbacks?.length ?? 0) === 0) return null;
    return this.lastRescue + RESCUE_EVERY_MS;
  }

  /**
   * Tries the fallbacks in order for one task: BORROW on the fallback, then the lease on the model's own
   * queue (`target`: its fair head, or the rescued id). `larger` borrows once more for the head's larger
   * estimate; `empty`/`gone`/`paused` stop (nothing to borrow for). True when a task was leased and launched.
   */
  private async borrowFor(taskId: string, estimatedTokens: number, target: BorrowTarget): Promise<boolean> {
    const { queue, workerId, leaseMs, logger } = this.options;
    const origin = this.options.modelId ?? queue.keys.base;
    for (const fallback of this.options.fallbacks ?? []) {
      if ((this.skips.get(taskId)?.get(fallback.model.id) ?? 0) > Date.now()) continue;
      let estimate = estimatedTokens;
      let want = target;
      for (let tries = 0; tries < 2; tries++) {
        const borrow = await fallback.queue.borrows.borrow(workerId, estimate, leaseMs, fallback.model.upstreams, { origin });
        if (borrow.status !== "granted") {
          this.options.onFallback?.(fallback.model.id, borrow.status);
          break;
        }
        const lease = await queue.borrows.lease(workerId, leaseMs, want, `${fallback.model.id}/${borrow.upstream}`).catch(async (error: unknown) => {
          await fallback.queue.borrows.release(borrow.holder, borrow.token).catch(() => undefined);
          throw error;
        });
        if (lease.status === "leased") {
          const borrowed = new Borrowed(fallback.model, fallback.queue, origin, workerId, leaseMs, estimate, borrow, logger);
          if (this.stopping) {
            await Promise.all([queue.release(lease.task.id, lease.token, { keepPlace: true }), borrowed.release()]).catch(() => undefined);
            return false;
          }
          logger.info({ taskId: lease.task.id, fallback: fallback.model.id, upstream: borrow.upstream }, "the model cannot serve the task now; it runs on a fallback's upstream");
          this.launch(lease.task, lease.token, borrowed);
          return true;
        }
        await fallback.queue.borrows.release(borrow.holder, borrow.token);
        if (lease.status === "larger" && "head" in want && tries === 0) {
          estimate = lease.head.estimatedTokens;
          want = { head: { maxEstimatedTokens: estimate } };
          continue;
        }
        return false;
      }
    }
    return false;
  }

  /** Remembers not to borrow `fallback` for the task before `until` (bounded: the oldest are forgotten first). */
  private rememberSkip(taskId: string, fallback: string, until: number): void {
    const skipped = this.skips.get(taskId) ?? new Map<string, number>();
    skipped.set(fallback, until);
    this.skips.delete(taskId);
    this.skips.set(taskId, skipped);
    if (this.skips.size > MAX_REMEMBERED_SKIPS) this.skips.delete(this.skips.keys().next().value!);
  }

  private launch(task: DispatchedTask, token: string, borrowed?: Borrowed): void {
    const { queue, logger } = this.options;
    this.options.onLeased?.(task);
    const abort = new AbortController();
    let ended!: () => void;
    const running: Running = { token, abort, ended: new Promise<void>((resolve) => (ended = resolve)), ...(borrowed ? { borrowed } : {}) };
    this.running.set(task.id, running);
    const fallback = borrowed?.fallback.id;
    void (async () => {
      let outcome: RunOutcome;
      try {
        outcome = await this.options.run(
          { taskId: task.id, requestCopy: task.requestCopy, tries: task.tries, upstream: task.upstream, token, ...(borrowed ? { fallback: borrowed } : {}) },
          abort.signal,
        );
      } catch (error) {
        // Not the task's failure as far as we know (a bug, an engine statement that threw): tried again later, a try spent.
        logger.error({ err: error, taskId: task.id }, "attempt failed with an unexpected error; the task is tried again later");
        outcome = { kind: "retry", delayMs: 2_000 };
      }
      this.running.delete(task.id);
      try {
        if (this.handedBack.has(task.id)) return;
        if (fallback !== undefined) this.options.onFallback?.(fallback, fallbackOutcome(outcome));
        // The fallback's slot: settled with the real usage when the task ran to its end, else given back.
        if (borrowed) await (outcome.kind === "done" ? borrowed.settle(outcome.tokens) : borrowed.release()).catch((error: unknown) => logger.warn({ err: error, taskId: task.id }, "could not end a borrow; its lease runs out"));
        if (outcome.kind === "skip") {
          // The fallback cannot serve it: back in its place, uncharged; the next borrow tries the next fallback.
          this.rememberSkip(task.id, fallback!, Infinity);
          logger.info({ taskId: task.id, fallback, reason: outcome.reason }, "a fallback cannot serve the task; it waits for its model or another fallback");
          await queue.release(task.id, token, { keepPlace: true });
          this.wake();
        } else if (outcome.kind === "done") {
          // Issued before the loop's next dispatch: both go out in one round trip.
          const settled = queue.settle(task.id, token, outcome.tokens);
          this.wake();
          // A stale lease (expired and taken back): if the task waits again, it would only be dispatched to
          // find it finished; take it out.
          if (!(await settled)) await queue.withdraw(task.id);
        } else if (outcome.kind === "release") {
          // Handed back (its upstreams paused longer than an attempt holds): in its place, no try spent.
          if (fallback !== undefined) this.rememberSkip(task.id, fallback, Date.now() + FALLBACK_AGAIN_AFTER_MS);
          await queue.release(task.id, token, { keepPlace: true });
          this.wake();
        } else if (outcome.kind === "lost") {
          // The lease was gone: whoever holds the task now tells the run queue.
          this.wake();
        } else {
          await queue.defer(task.id, token, Date.now() + outcome.delayMs, { spendTry: outcome.kind === "retry" });
          this.wake();
          // Due then: this loop looks again at that moment, however long its idle wait was to be.
          setTimeout(() => this.wake(), outcome.delayMs + 5).unref();
        }
      } catch (error) {
        logger.warn({ err: error, taskId: task.id }, "could not tell the run queue how a task ended; its lease runs out and it is dispatched again");
        this.wake();
      } finally {
        ended();
      }
    })();
  }

  /** Extends the leases of the tasks running now, one call per dispatch token. */
  private async renew(): Promise<void> {
    const byToken = new Map<string, string[]>();
    for (const [id, running] of this.running) {
      const ids = byToken.get(running.token);
      if (ids) ids.push(id);
      else byToken.set(running.token, [id]);
    }
    // A borrowed task's slot on its fallback is renewed with its lease.
    const borrows = [...this.running.values()].flatMap((running) => (running.borrowed ? [running.borrowed] : []));
    await Promise.all([
      ...[...byToken].map(([token, ids]) =>
        this.options.queue.renew(ids, token, this.options.leaseMs).catch((error: unknown) => this.options.logger.warn({ err: error }, "could not renew leases")),
      ),
      ...borrows.map((borrow) => borrow.renew().catch((error: unknown) => this.options.logger.warn({ err: error }, "could not renew a borrow"))),
    ]);
  }

  private wake(): void {
    const wake = this.wakeLocal;
    this.wakeLocal = null;
    wake?.();
  }

  private slotFreed(): Promise<void> {
    return new Promise((resolve) => (this.wakeLocal = resolve));
  }

  /** Resolves after `ms` or at a local wake, whichever comes first; its timer never touches a later waiter. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waker = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        if (this.wakeLocal === waker) this.wakeLocal = null;
        resolve();
      }, ms);
      this.wakeLocal = waker;
    });
  }

  /**
   * Blocks until the wake marker is set (work arrived), `wakeAt` (something this queue holds falls due),
   * 5 s, a local wake (a slot freed, a deferred task due), or stop. One BZPOPMIN at a time on the loop's
   * connection: a wait cut short locally leaves it pending, and the next idle wait joins it. A marker that
   * BZPOPMIN took while the loop was not waiting (it was dispatching) ends the next wait at once.
   */
  private async idle(wakeAt: number | null): Promise<void> {
    if (this.markerTaken) {
      this.markerTaken = false;
      return;
    }
    const maxBlockMs = this.options.maxIdleBlockMs ?? MAX_IDLE_BLOCK_MS;
    const until = wakeAt === null ? maxBlockMs : Math.min(maxBlockMs, Math.max(MIN_IDLE_BLOCK_MS, wakeAt - Date.now()));
    this.pendingBlock ??= this.options.blocking
      .bzpopmin(this.options.queue.keys.marker, maxBlockMs / 1000)
      .then(
        (popped) => {
          if (popped) this.markerTaken = true;
        },
        async (error: unknown) => {
          if (this.stopping) return;
          this.options.logger.warn({ err: error, queue: this.queueName }, "waiting for work failed; trying again shortly");
          await new Promise((resolve) => setTimeout(resolve, DISPATCH_ERROR_PAUSE_MS));
        },
      )
      .finally(() => (this.pendingBlock = null));
    await Promise.race([this.pendingBlock, this.sleep(until)]);
    // The marker won: end the sleep now (its timer must not outlive this wait).
    this.wake();
    // Whatever ended the wait, the DISPATCH that follows sees every task the marker announced.
    this.markerTaken = false;
  }

  /**
   * Stops leasing; waits for the running tasks until `deadlineMs`; hands the ones still running back to
   * the run queue (in their place, uncharged, no try spent) and stops them. Resolves when done.
   */
  async close(deadlineMs: number): Promise<void> {
    this.stopping = true;
    this.wake();
    // Unblocks a BZPOPMIN in progress (its connection is this loop's own).
    this.options.blocking.disconnect();
    await this.loopDone;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), deadlineMs)));
    await Promise.race([Promise.all([...this.running.values()].map((running) => running.ended)), deadline]);
    clearTimeout(timer);
    const left = [...this.running];
    for (const [id, running] of left) {
      this.handedBack.add(id);
      await this.options.queue.release(id, running.token, { keepPlace: true }).catch(() => undefined);
      await running.borrowed?.release().catch(() => undefined);
      running.abort.abort(new Error("the worker is shutting down"));
    }
    clearInterval(this.renewTimer);
    if (left.length > 0) this.options.logger.warn({ queue: this.queueName, tasks: left.map(([id]) => id) }, "shutdown: tasks still running were handed back to the run queue");
  }
}

/** The earliest of wake times (null: none). */
function earliest(...times: (number | null)[]): number | null {
  const known = times.filter((time): time is number => time !== null);
  return known.length === 0 ? null : Math.min(...known);
}

/** How a borrowed task's attempt ended, as `llmq_fallbacks_total` counts it. */
function fallbackOutcome(outcome: RunOutcome): FallbackOutcome {
  switch (outcome.kind) {
    case "done":
      return outcome.failed ? "failed" : "served";
    case "skip":
      return "skipped";
    case "release":
    case "lost":
      return "handed_back";
    default:
      return "retried";
  }
}
