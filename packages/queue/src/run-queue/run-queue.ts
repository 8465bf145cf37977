import type { RedisConnection } from "../connection";
import { bindScripts } from "./bind-scripts";
import { MAX_REQUEST_COPY_BYTES } from "../job-catalog";
import { RunQueueBorrows, type TaskRow } from "./borrow";
import { type RunQueueKeys, runQueueKeys } from "./keys";
import { DEFER, DISPATCH, ENQUEUE, LEASE_HOLDERS, PLACE, REAP_DEAD, RELEASE, RENEW, REQUEUE_EXPIRED, SETTLE, TAKE_DEAD, WITHDRAW } from "./scripts";
import { RunQueueUpstreams, parseBlock, upstreamArgs } from "./upstreams";
import type { UpstreamParams } from "./upstreams-types";
import {
  type Dispatched,
  type DispatchedTask,
  type RunQueueCounts,
  type RunQueueEntry,
  type RunQueuePlace,
  type RunQueueState,
  type RunQueueTaskState,
  SERVICE_TIERS,
  type ServiceTier,
} from "./types";

/** How long each tier may be passed by newer work of the same tenant (ms); `priority` is never delayed. */
export interface TierDelays {
  default: number;
  flex: number;
}

export const DEFAULT_TIER_DELAYS: TierDelays = { default: 60_000, flex: 600_000 };

export interface RunQueueOptions {
  /** The deployment's key prefix (REDIS_PREFIX). */
  prefix: string;
  /** The model's queue name: the hash tag of every key. */
  queueName: string;
  tierDelays?: TierDelays;
  /** A clock for tests (ms); by default the scripts read Redis's. */
  now?: () => number;
}

const ENQUEUE_CHUNK = 200;
const RENEW_CHUNK = 200;
const MAX_DISPATCH = 100;
const MAX_REQUEUE = 100;

type Commands = {
  llmqRqEnqueue(...args: string[]): Promise<number>;
  llmqRqDispatch(
    ...args: string[]
  ): Promise<[string, number, TaskRow[], number | string, string, number, string[], string?, number?]>;
  llmqRqDefer(...args: string[]): Promise<number>;
  llmqRqLeaseHolders(...args: string[]): Promise<string[]>;
  llmqRqReapDead(...args: string[]): Promise<string[]>;
  llmqRqSettle(...args: string[]): Promise<number>;
  llmqRqRenew(...args: string[]): Promise<number>;
  llmqRqRelease(...args: string[]): Promise<number>;
  llmqRqWithdraw(...args: string[]): Promise<string>;
  llmqRqRequeueExpired(...args: string[]): Promise<[number, number]>;
  llmqRqTakeDead(...args: string[]): Promise<string[]>;
  llmqRqPlace(...args: string[]): Promise<[number, number] | null>;
};

function commandsOn(redis: RedisConnection): Commands {
  return bindScripts<Commands>(redis, {
    llmqRqEnqueue: ENQUEUE,
    llmqRqDispatch: DISPATCH,
    llmqRqSettle: SETTLE,
    llmqRqRenew: RENEW,
    llmqRqRelease: RELEASE,
    llmqRqWithdraw: WITHDRAW,
    llmqRqRequeueExpired: REQUEUE_EXPIRED,
    llmqRqTakeDead: TAKE_DEAD,
    llmqRqPlace: PLACE,
    llmqRqDefer: DEFER,
    llmqRqLeaseHolders: LEASE_HOLDERS,
    llmqRqReapDead: REAP_DEAD,
  });
}

const STATES: Record<string, RunQueueState> = { w: "waiting", l: "leased", y: "delayed", d: "dead" };

/**
 * One model's fair run queue on Redis: tenants share dispatches by weighted virtual token counters,
 * tiers order a tenant's own tasks with aging, and dispatched tasks are leased under a token (see
 * scripts.ts for the rules, keys.ts for the layout). Every method is one script call, atomic, in one
 * round trip; enqueueMany and renew past 200 ids send one call per 200 together.
 */
export class RunQueue {
  readonly keys: RunQueueKeys;
  /** Failover, reports and the read-only view of the model's upstreams (issue 16 part 2). */
  readonly upstreams: RunQueueUpstreams;
  /** Fallbacks (issue 16, borrow): lending room on this model's upstreams, and leasing for a borrow. */
  readonly borrows: RunQueueBorrows;
  private readonly commands: Commands;
  private readonly delays: TierDelays;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: RunQueueOptions,
  ) {
    this.keys = runQueueKeys(options.prefix, options.queueName);
    this.commands = commandsOn(redis);
    this.delays = options.tierDelays ?? DEFAULT_TIER_DELAYS;
    this.upstreams = new RunQueueUpstreams(redis, this.keys, options.now);
    this.borrows = new RunQueueBorrows(redis, this.keys, (row) => this.taskOf(row), options.now);
  }

  private head(): string[] {
    const k = this.keys;
    return [k.state, k.tenants, k.weights, k.leased, k.counts, k.dead, k.base, this.options.now ? String(this.options.now()) : ""];
  }

  private tierDelay(tier: ServiceTier): number {
    return tier === "priority" ? 0 : this.delays[tier] ?? 0;
  }

  private delayArgs(): string[] {
    return ["0", String(this.delays.default), String(this.delays.flex)];
  }

  /** Adds tasks to their tenants' lines; an id already present is skipped. Resolves to the number added. */
  async enqueueMany(entries: readonly RunQueueEntry[]): Promise<number> {
    // Every entry is checked before anything is sent; the chunks go out together (one connection keeps
    // their order, so enqueue order is kept) and each is atomic on its own.
    const chunks: string[][] = [];
    for (let start = 0; start < entries.length; start += ENQUEUE_CHUNK) {
      const args = [...this.head(), ...this.delayArgs()];
      for (const entry of entries.slice(start, start + ENQUEUE_CHUNK)) args.push(...entryArgs(entry));
      chunks.push(args);
    }
    const added = await Promise.all(chunks.map((args) => this.commands.llmqRqEnqueue(...args)));
    return added.reduce((sum, n) => sum + n, 0);
  }

  /**
   * Leases up to `max` (<= 100) tasks to `worker` for `leaseMs`, fairly; `room` caps the model's leased
   * tasks (max in flight). Given the model's `upstreams`, each task is leased with an upstream that has
   * room (reserved in the same script); when none has room for the task at the head, the call stops
   * there and `blocked` says why and when to try again.
   */
  async dispatch(worker: string, max: number, leaseMs: number, room?: number, upstreams: readonly UpstreamParams[] = []): Promise<Dispatched> {
    const n = Math.max(0, Math.min(MAX_DISPATCH, Math.floor(max)));
    const [token, leaseUntil, rows, wakeAt, why, wake, reasons, headId, headEstimate] = await this.commands.llmqRqDispatch(
      ...this.head(),
      worker,
      String(n),
      String(Math.floor(leaseMs)),
      room === undefined ? "" : String(Math.floor(room)),
      ...upstreamArgs(upstreams),
    );
    const blocked = parseBlock(why, wake, reasons);
    return {
      token,
      leaseUntil: Number(leaseUntil),
      tasks: rows.map((row) => this.taskOf(row)),
      wakeAt: wakeAt === "" || wakeAt === undefined ? null : Number(wakeAt),
      blocked,
      // Borrow hook: the task the blocked call put back, what a fallback borrow is for.
      blockedHead: blocked && headId ? { id: headId, estimatedTokens: Number(headEstimate) } : null,
    };
  }

  /** A row of DISPATCH (or of a borrow's lease) as a DispatchedTask. */
  private taskOf([id, tenant, tier, copy, deadline, tries, score, upstream]: TaskRow): DispatchedTask {
    return {
      id,
      tenant,
      tier: tier as ServiceTier,
      requestCopy: copy === "" ? null : copy,
      queueDeadline: deadline === "" ? null : Number(deadline),
      tries: Number(tries ?? 0),
      // The score is the enqueue stamp (ms * 1024) plus the tier's delay.
      enqueuedAt: Math.floor((Number(score ?? 0) - this.tierDelay(tier as ServiceTier) * 1024) / 1024),
      upstream: upstream === "" || upstream === undefined ? null : upstream,
    };
  }

  /** The task is done: ends its lease and corrects its tenant's counter by the real usage. False for a wrong or stale token. */
  async settle(id: string, token: string, actualTokens: number): Promise<boolean> {
    const tokens = Math.max(0, Number.isFinite(actualTokens) ? actualTokens : 0);
    return (await this.commands.llmqRqSettle(...this.head(), id, token, String(tokens))) === 1;
  }

  /** Extends the leases `token` holds on `ids`; resolves to how many it extended. */
  async renew(ids: readonly string[], token: string, leaseMs: number): Promise<number> {
    const calls: Promise<number>[] = [];
    for (let start = 0; start < ids.length; start += RENEW_CHUNK) {
      calls.push(this.commands.llmqRqRenew(...this.head(), token, String(Math.floor(leaseMs)), ...ids.slice(start, start + RENEW_CHUNK)));
    }
    return (await Promise.all(calls)).reduce((sum, n) => sum + n, 0);
  }

  /**
   * Puts a leased task back in line uncharged: with its original score (`keepPlace`, e.g. its upstream
   * paused) or at the back of its tier. False for a wrong or stale token.
   */
  async release(id: string, token: string, options: { keepPlace: boolean }): Promise<boolean> {
    return (await this.commands.llmqRqRelease(...this.head(), id, token, options.keepPlace ? "1" : "0", ...this.delayArgs())) === 1;
  }

  /**
   * Ends the lease and parks the task in the delayed set until `dueAt` (ms, the queue's clock); a later
   * dispatch puts it back in line with its original score. `spendTry`: a retry after a failure (counted in
   * `tries`), or not (Postgres out of reach: nobody's fault). False for a wrong or stale token.
   */
  async defer(id: string, token: string, dueAt: number, options: { spendTry: boolean }): Promise<boolean> {
    return (await this.commands.llmqRqDefer(...this.head(), id, token, String(Math.floor(dueAt)), options.spendTry ? "1" : "0")) === 1;
  }

  /** The workers holding leases now (among the first `max` leased tasks), for a liveness check. */
  async leaseHolders(max = 1_000): Promise<string[]> {
    return this.commands.llmqRqLeaseHolders(...this.head(), String(Math.max(1, Math.min(1_000, Math.floor(max)))));
  }

  /** Ends now the leases held by workers that stopped beating (a stall each), their tasks back in line. Resolves to their ids. */
  async reapDead(workers: readonly string[], max = 1_000): Promise<string[]> {
    if (workers.length === 0) return [];
    return this.commands.llmqRqReapDead(...this.head(), String(Math.max(1, Math.min(1_000, Math.floor(max)))), ...workers);
  }

  /** Run times (ms, lease to settle) of up to `limit` (<= 20) tasks settled last, newest first. One LRANGE. */
  async recentRunTimesMs(limit = 20): Promise<number[]> {
    return (await this.redis.lrange(this.keys.runTimes, 0, Math.max(0, Math.min(20, limit) - 1))).map(Number).filter((ms) => ms >= 0);
  }

  /** Stops every loop of every process leasing this model's tasks (admin); leased ones finish. */
  async pause(): Promise<void> {
    await this.redis.hset(this.keys.state, "paused", "1");
  }

  async resume(): Promise<void> {
    await this.redis.hdel(this.keys.state, "paused");
    await this.redis.zadd(this.keys.marker, 0, "w");
  }

  async isPaused(): Promise<boolean> {
    return (await this.redis.hget(this.keys.state, "paused")) === "1";
  }

  /** Takes a waiting (or dead) task out (cancel, expiry); a leased one is left to its holder. Resolves to the state it was in. */
  async withdraw(id: string): Promise<RunQueueState | "none"> {
    // A delayed task (waiting for its retry) is withdrawn like a waiting one.
    return (await this.commands.llmqRqWithdraw(...this.head(), id)) as RunQueueState | "none";
  }

  /** Expired leases (up to `max`, <= 100) back in line with their original score; past 3 stalls, to the dead list. */
  async requeueExpired(max = MAX_REQUEUE): Promise<{ requeued: number; dead: number }> {
    const n = Math.max(0, Math.min(MAX_REQUEUE, Math.floor(max)));
    const [requeued, dead] = await this.commands.llmqRqRequeueExpired(...this.head(), String(n));
    return { requeued: Number(requeued), dead: Number(dead) };
  }

  /** Takes up to `max` (<= 100) ids off the dead list and forgets them, for the sweeper to fail. */
  async takeDead(max = MAX_REQUEUE): Promise<string[]> {
    const n = Math.max(0, Math.min(MAX_REQUEUE, Math.floor(max)));
    return n === 0 ? [] : await this.commands.llmqRqTakeDead(...this.head(), String(n));
  }

  /** Where the task is in the run queue, or null when it is not there. One HMGET. */
  async state(id: string): Promise<RunQueueTaskState | null> {
    const [st, tenant, tier, stalls, leaseUntil] = await this.redis.hmget(this.keys.task(id), "st", "te", "ti", "ss", "lu");
    const state = st ? STATES[st] : undefined;
    if (!state || !tenant || !tier) return null;
    return { state, tenant, tier: tier as ServiceTier, stalls: Number(stalls ?? 0), leaseUntil: leaseUntil ? Number(leaseUntil) : null };
  }

  /** Waiting tasks (in all, batch items apart, and by tenant and tier), leased and dead ones. One HGETALL. */
  async counts(): Promise<RunQueueCounts> {
    const fields = await this.redis.hgetall(this.keys.counts);
    const counts: RunQueueCounts = { waiting: 0, leased: 0, delayed: 0, dead: 0, batchWaiting: 0, waitingByTenant: {} };
    for (const [field, value] of Object.entries(fields)) {
      const n = Number(value);
      if (field === "waiting" || field === "leased" || field === "delayed" || field === "dead") counts[field] = n;
      else if (field === "bw") counts.batchWaiting = n;
      else if (field.startsWith("n:") && n > 0) {
        const colon = field.indexOf(":", 2);
        const tier = field.slice(2, colon) as ServiceTier;
        const tenant = field.slice(colon + 1);
        (counts.waitingByTenant[tenant] ??= {})[tier] = n;
      }
    }
    return counts;
  }

  /** Tasks settled since the queue began (done, whichever way: completed, failed, cancelled). One HGET. */
  async settledCount(): Promise<number> {
    return Number((await this.redis.hget(this.keys.counts, "done")) ?? 0);
  }

  /** A waiting task's place estimate, or null when it is not waiting. */
  async place(id: string): Promise<RunQueuePlace | null> {
    const result = await this.commands.llmqRqPlace(...this.head(), id);
    if (!result) return null;
    return { ahead: Number(result[0]), leased: Number(result[1]) };
  }
}

function entryArgs(entry: RunQueueEntry): string[] {
  const weight = entry.weight;
  if (weight !== undefined && (!(weight > 0) || !Number.isFinite(weight))) throw new RangeError(`run queue: weight of task ${entry.id} must be a positive number`);
  if (!SERVICE_TIERS.includes(entry.tier)) throw new RangeError(`run queue: unknown tier ${entry.tier}`);
  if (entry.requestCopy !== null && Buffer.byteLength(entry.requestCopy) > MAX_REQUEST_COPY_BYTES) {
    throw new RangeError(`run queue: request copy of task ${entry.id} is over ${MAX_REQUEST_COPY_BYTES} bytes`);
  }
  const estimate = Math.max(1, Math.ceil(Number.isFinite(entry.estimatedTokens) ? entry.estimatedTokens : 1));
  return [
    entry.id,
    entry.tenant,
    weight === undefined ? "" : String(weight),
    entry.tier,
    String(estimate),
    entry.queueDeadline === null ? "" : String(Math.floor(entry.queueDeadline)),
    entry.requestCopy ?? "",
    entry.batch ? "1" : "0",
  ];
}
