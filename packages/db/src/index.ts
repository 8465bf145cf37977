export { createDatabase, pingDatabase, isDatabaseUnavailable, type Database } from "./client";
export { batchTaskId } from "./batch-task-id";
export { TaskRepository, batchTaskOf, type BatchTask, type TaskRecord, type NewTask, type Viewer, type TaskProgress, type TaskOutcome, type ServedBy, type HistoryQuery, type StartedAttempt, type ExpiredTask, type ChangedTask } from "./task-repository";
export type { AttemptStart, StartedRow, ProgressUpdate, CompletionUpdate } from "./task-sql";
export { type FinishedTask, finishedTaskJson, taskOfFinished } from "./finished-task";
export { ApiKeyRepository, type ApiKeyRecord, type ActiveApiKey, type KeyLimitsRecord, hashApiKey } from "./api-key-repository";
export type { LimitsRecord, LimitTotal, KeyLimitTotals } from "./limit-totals";
export { UserRepository, type UserRecord, type UserWithKeyTotals, type UserUsage, type UsageFigures, type TenantName, ADMIN_USER_ID } from "./user-repository";
export { RefreshTokenRepository } from "./refresh-token-repository";
export { CredentialRepository, type CredentialStates } from "./credential-repository";
export { encodeCursor, decodeCursor, type HistoryCursor } from "./cursor";
export { FileRepository, type FileRecord, type StagedFile, type FileListQuery, type FileQuota, FileQuotaExceeded, FILE_CHUNK_BYTES, isFileId } from "./file-repository";
export {
  BatchRepository,
  type BatchRecord,
  type BatchStatus,
  type BatchCounts,
  type NewBatch,
  type BatchTokenLimits,
  type BatchSettlement,
  type BatchRefusal,
  BATCH_STATUSES,
} from "./batch-repository";
export {
  WebhookDeliveryRepository,
  type WebhookDeliveryRecord,
  type WebhookAttemptRecord,
  type WebhookDeliveryStatus,
  type NewWebhookDelivery,
  type AttemptOutcome,
  type DeliveryListQuery,
  type FinalDeliveryCursor,
} from "./webhook-delivery-repository";
export { WebhookSecretRepository, type SecretOwner, generateWebhookSecret } from "./webhook-secret-repository";
export { IdempotencyRepository, type IdempotencyRecord, IDEMPOTENCY_KEY_TTL_MS } from "./idempotency-repository";
export { TaskStatsRepository, type FinishedTaskStats, type TaskCount } from "./task-stats";
export { RetentionRepository, type DeletedRows } from "./retention-repository";
