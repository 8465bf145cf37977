export { createDatabase, pingDatabase, isDatabaseUnavailable, type Database } from "./client";
export { TaskRepository, batchTaskOf, type BatchTask, type TaskRecord, type NewTask, type Viewer, type TaskProgress, type TaskOutcome, type HistoryQuery, type StartedAttempt } from "./task-repository";
export { ApiKeyRepository, type ApiKeyRecord, hashApiKey } from "./api-key-repository";
export { UserRepository, type UserRecord, ADMIN_USER_ID } from "./user-repository";
export { encodeCursor, decodeCursor, type HistoryCursor } from "./cursor";
export { FileRepository, type FileRecord, type StagedFile, type FileListQuery, FILE_CHUNK_BYTES, isFileId } from "./file-repository";
export { BatchRepository, type BatchRecord, type BatchStatus, type BatchCounts, type NewBatch, BATCH_STATUSES } from "./batch-repository";
