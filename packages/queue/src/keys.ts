/**
 * Redis key layout under one prefix, so several deployments (or test suites) share a server safely.
 * Every command and script touches keys of one hash slot (Redis Cluster): keys used together share a
 * hash tag (`{...}`): a BullMQ queue's keys its queue name, a user's counters and leases the user's id,
 * a task's stream its id, a run queue's keys its queue name, all heartbeats one tag.
 */
export interface KeySpace {
  /** The deployment's prefix itself (REDIS_PREFIX): the run queues' keys are `<root>:rq:{<queue>}:…`. */
  root: string;
  /** BullMQ's prefix for one queue, hash-tagged with the queue's name: a queue's keys share a slot, queues spread over the masters. */
  bull(queueName: string): string;
  taskEvents(taskId: string): string;
  /** Pub/sub channel carrying each append's new entries to the task's live readers (TaskEventHub). */
  taskNotify(taskId: string): string;
  /** Pub/sub channel announcing the task's final event, for waiters that want nothing else. */
  taskFinal(taskId: string): string;
  cancelChannel: string;
  /** Pub/sub channel announcing changed tasks (for live task lists). */
  taskUpdatesChannel: string;
  /** Pub/sub channel announcing revoked keys, deleted and demoted users (open streams end). */
  credentialsChannel: string;
  /** A counter raised at every credential change (with its announcement), so a cache can check it is current. */
  credentialsEpoch: string;
  /** The recent attempts of one subject (a sorted set scored by Redis time, ms): a sliding-window limit's log. */
  rateLog(subject: string): string;
  /** When a rate allowance of one user's (`scope`: `user`, `key:<id>`, or a route's name) is whole again (GCRA's theoretical arrival time, ms; see rate-limit.ts); in the user's slot. */
  rateAllowance(userId: string, scope: string): string;
  /** Tokens one user (`keyId` null), or one of its keys, used on one UTC day (`YYYY-MM-DD`); in the user's slot. */
  tokensUsed(userId: string, keyId: string | null, day: string): string;
  /** Batch ingests of one user running now, across every worker (IngestLeases). */
  ingestLeases(ownerId: string): string;
  /** Open streams and synchronous waits of one user (`keyId` null), or of one of its keys (StreamLeases); both in the user's slot. */
  openStreams(userId: string, keyId: string | null): string;
  /** Last heartbeat (Redis time, ms) of one BullMQ Worker or lease holder, by its id; "0" once it has stopped. All in one slot. */
  workerBeat(workerId: string): string;
}

export function keySpace(prefix: string): KeySpace {
  return {
    root: prefix,
    bull: (queueName) => `${prefix}:bull:{${queueName}}`,
    taskEvents: (taskId) => `${prefix}:task:${taskId}:events`,
    taskNotify: (taskId) => `${prefix}:task:${taskId}:notify`,
    taskFinal: (taskId) => `${prefix}:task:${taskId}:final`,
    cancelChannel: `${prefix}:cancel`,
    taskUpdatesChannel: `${prefix}:task-updates`,
    credentialsChannel: `${prefix}:credentials`,
    credentialsEpoch: `${prefix}:credentials:epoch`,
    rateLog: (subject) => `${prefix}:rate:${subject}`,
    rateAllowance: (userId, scope) => `${prefix}:allowance:{${userId}}:${scope}`,
    tokensUsed: (userId, keyId, day) => `${prefix}:tokens:{${userId}}:${keyId ? `key:${keyId}` : "user"}:${day}`,
    ingestLeases: (ownerId) => `${prefix}:ingest:${ownerId}`,
    openStreams: (userId, keyId) => `${prefix}:streams:{${userId}}${keyId ? `:${keyId}` : ""}`,
    workerBeat: (workerId) => `${prefix}:worker:{beats}:${workerId}`,
  };
}
