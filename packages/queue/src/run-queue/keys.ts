/**
 * The run queue's keys of one model, all under the hash tag `{<queueName>}` so every script touches one
 * slot (Redis Cluster). Scripts get the fixed keys as KEYS and build the per-tenant and per-task ones
 * from `base` (as BullMQ does from its prefix): `<base>q:<tenant>`, `<base>m:<taskId>`.
 */
export interface RunQueueKeys {
  base: string;
  /** hash: `vclock` (counter of the last pick), `last` (last enqueue stamp), `tok` (lease tokens given), `aw` (sum of active tenants' weights). */
  state: string;
  /** zset: tenants with waiting work -> virtual token counter. */
  tenants: string;
  /** hash: `w:<tenant>` weight, `c:<tenant>` counter of a tenant with nothing waiting. */
  weights: string;
  /** zset: leased task ids -> lease end (ms). */
  leased: string;
  /** hash: `waiting`, `leased`, `delayed`, `dead`, `done`, `bw` waiting batch items, `n:<tier>:<tenant>` waiting tasks. */
  counts: string;
  /** list: ids whose lease expired more than 3 times (the sweeper fails them). */
  dead: string;
  /** zset: retry-delayed task ids -> due (ms). */
  delayed: string;
  /** list: run times (ms, lease to settle) of the last 20 settled tasks, newest first. */
  runTimes: string;
  /** zset of one member: the wake marker idle dispatch loops block on (BZPOPMIN). */
  marker: string;
  /** zset of one tenant's waiting task ids -> enqueue stamp + tier delay. */
  tenantQueue(tenant: string): string;
  /** hash of one task: tenant, tier, score, estimate, deadline, copy, state, lease fields, stalls, batch flag (`bt`). */
  task(taskId: string): string;
}

export function runQueueKeys(prefix: string, queueName: string): RunQueueKeys {
  const base = `${prefix}:rq:{${queueName}}:`;
  return {
    base,
    state: `${base}s`,
    tenants: `${base}t`,
    weights: `${base}w`,
    leased: `${base}r`,
    counts: `${base}c`,
    dead: `${base}x`,
    delayed: `${base}d`,
    marker: `${base}k`,
    runTimes: `${base}rt`,
    tenantQueue: (tenant) => `${base}q:${tenant}`,
    task: (taskId) => `${base}m:${taskId}`,
  };
}
