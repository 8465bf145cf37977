/** @llmq/client: a typed client for llmq's task API, for Node 20+ and browsers. See docs/client.md. */
export { LlmqClient, isFinalStatus, isSettledBatchStatus } from "./client";
export type { Credential, LlmqClientOptions, RequestOptions, TaskEvent, TaskProgressEvent } from "./client";
export { LlmqApiError, LlmqAuthError, LlmqConflictError, LlmqConnectionError, LlmqError, LlmqNotFoundError, LlmqRateLimitError, LlmqStreamEndedError, apiErrorOf } from "./errors";
export { readSse, reconnectDelayMs } from "./sse";
export type { EventSourceMessage } from "./sse";
export type {
  CreateNativeBatchInput,
  CreatedNativeBatchData,
  HistoryPage,
  HistoryQuery,
  HistoryRow,
  NativeBatch,
  NativeBatchPage,
  NativeBatchQuery,
  NativeBatchResultLine,
  TaskData,
  TaskEnvelopeData,
  TaskStreamEvent,
  TextCompletionInput,
} from "@llmq/contract";
