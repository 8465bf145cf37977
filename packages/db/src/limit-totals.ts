/** Limits as an admin set them on a key or a user: null inherits, 0 is unlimited. */
export interface LimitsRecord {
  rateLimitPerMinute: number | null;
  maxConcurrentTasks: number | null;
  tokensPerDay: number | null;
  maxOpenStreams: number | null;
  /** Weight in each model's fair share (1..1000): not a capacity, so never added up over keys. */
  fairShareWeight: number | null;
}

/** One limit over a user's live keys: the sum of the values keys set, how many keys inherit the default, whether one is unlimited (0). */
export interface LimitTotal {
  sum: number;
  inheriting: number;
  unlimited: boolean;
}

/** A user's live (unrevoked) keys and their limits added up: what the user's limits are when it has none of its own. */
export interface KeyLimitTotals {
  keys: number;
  rateLimitPerMinute: LimitTotal;
  maxConcurrentTasks: LimitTotal;
  tokensPerDay: LimitTotal;
  maxOpenStreams: LimitTotal;
}

const total = (column: string) =>
  `'${column.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())}', jsonb_build_object('sum', coalesce(sum(s.${column}), 0), 'inheriting', count(*) FILTER (WHERE s.${column} IS NULL), 'unlimited', coalesce(bool_or(s.${column} = 0), false))`;

/**
 * SQL for the KeyLimitTotals of the user whose id is `userIdExpression`, as one jsonb value: a subquery on
 * `api_keys_user_id_idx`, so it rides along in the statement that looks up the key or the user.
 */
export function keyLimitTotalsSql(userIdExpression: string): string {
  return `(SELECT jsonb_build_object('keys', count(*), ${["rate_limit_per_minute", "max_concurrent_tasks", "tokens_per_day", "max_open_streams"].map(total).join(", ")})
             FROM api_keys s WHERE s.user_id = ${userIdExpression} AND s.revoked_at IS NULL)`;
}
