import type { KeyLimitTotals, LimitTotal, LimitsRecord } from "@llmq/db";

/** Limits in force, as numbers: 0 = unlimited. */
export interface Limits {
  rateLimitPerMinute: number;
  maxConcurrentTasks: number;
  tokensPerDay: number;
  /** Open streams (SSE) and synchronous waits at once. */
  maxOpenStreams: number;
  /** Weight in each model's fair share between tenants (at least 1; not a capacity: never 0, never added up). */
  fairShareWeight: number;
}

/** A tenant's weight when neither its key nor its user sets one. */
export const DEFAULT_FAIR_SHARE_WEIGHT = 1;

/**
 * What a caller may use: its key's limits when it came with a key, and always its user's (every task
 * counts against both). The admin key has none (no Quota at all).
 */
export interface Quota {
  key: Limits | null;
  user: Limits;
}

/**
 * The fair-share weight of a caller's tasks (their run-queue tenant is the key, else the user): the key's
 * weight when it came with a key (its own, else its user's, see keyLimits), else its user's; 1 for the
 * admin key, which has no Quota.
 */
export function fairShareWeightOf(quota: Quota | undefined): number {
  if (!quota) return DEFAULT_FAIR_SHARE_WEIGHT;
  return (quota.key ?? quota.user).fairShareWeight;
}

const LIMIT_FIELDS = ["rateLimitPerMinute", "maxConcurrentTasks", "tokensPerDay", "maxOpenStreams"] as const;

function limitsFrom(value: (field: (typeof LIMIT_FIELDS)[number]) => number, fairShareWeight: number): Limits {
  return { rateLimitPerMinute: value("rateLimitPerMinute"), maxConcurrentTasks: value("maxConcurrentTasks"), tokensPerDay: value("tokensPerDay"), maxOpenStreams: value("maxOpenStreams"), fairShareWeight };
}

/**
 * A key's limits: its own, else the deployment's default (RATE_LIMIT_PER_MINUTE, MAX_CONCURRENT_TASKS_PER_KEY, TOKENS_PER_DAY_PER_KEY, MAX_OPEN_STREAMS_PER_KEY);
 * its fair share weight: its own, else its user's, else the default.
 */
export function keyLimits(own: LimitsRecord, defaults: Limits, user: Pick<LimitsRecord, "fairShareWeight">): Limits {
  return limitsFrom((field) => own[field] ?? defaults[field], own.fairShareWeight ?? user.fairShareWeight ?? defaults.fairShareWeight);
}

/** One limit of a user that sets none: its live keys' effective limits added up; one unlimited key (or unlimited default) makes it unlimited. */
function sumOfKeys(total: LimitTotal, fallback: number): number {
  if (total.unlimited || (total.inheriting > 0 && fallback === 0)) return 0;
  return total.sum + total.inheriting * fallback;
}

/**
 * A user's limits, over all its keys and sessions: what the admin set on the user; where unset, the sum
 * of its live keys' limits (so a tenant keeps the capacity its keys had, each key its own share), and for
 * a user without a live key, the deployment's default.
 */
export function userLimits(own: LimitsRecord, keys: KeyLimitTotals, defaults: Limits): Limits {
  return limitsFrom((field) => own[field] ?? (keys.keys === 0 ? defaults[field] : sumOfKeys(keys[field], defaults[field])), own.fairShareWeight ?? defaults.fairShareWeight);
}

/** Limits in the API's field names, whether own (null: inherited) or in force. */
function limitFields<T extends number | null>(limits: Record<(typeof LIMIT_FIELDS)[number] | "fairShareWeight", T>) {
  return {
    rate_limit_per_minute: limits.rateLimitPerMinute,
    max_concurrent_tasks: limits.maxConcurrentTasks,
    tokens_per_day: limits.tokensPerDay,
    max_open_streams: limits.maxOpenStreams,
    fair_share_weight: limits.fairShareWeight,
  };
}

/** A user's or key's own limits as the admin API shows them (null: inherited). */
export function limitsRecordView(limits: LimitsRecord) {
  return limitFields<number | null>(limits);
}

/** Limits in force as the API shows them (0: unlimited). */
export function limitsView(limits: Limits) {
  return limitFields<number>(limits);
}
