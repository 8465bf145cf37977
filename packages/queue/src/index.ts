export { createRedis, pingRedis, type RedisConnection } from "./connection";
export { keySpace, type KeySpace } from "./keys";
export { jobCatalog, retryDelayMs, BATCH_QUEUE, BATCH_PRIORITY, type JobName, type JobPayload } from "./job-catalog";
export { BatchJobs } from "./batch-jobs";
export { TaskQueues, type QueueCounts } from "./task-queues";
export { type TaskEvent, type TaskEventEntry, isStreamId } from "./task-events";
export { TaskEventLog } from "./task-event-log";
export { TaskEventHub } from "./task-event-hub";
export { publishCancel, subscribeCancels } from "./cancel-signals";
