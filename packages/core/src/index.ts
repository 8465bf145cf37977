export { REQUEST_LIMITS } from "./request-limits";
export { nulCharacterPath } from "./nul-characters";
export * from "./errors";
export { assertNever } from "./assert-never";
export { BATCH_STATUSES, type BatchStatus } from "./batch-status";
export { TASK_STATUSES, FINAL_STATUSES, type TaskStatus, isFinal, statusesLeadingTo, canTransition } from "./task-status";
export {
  MAX_TOKENS_LIMIT,
  defaultQueueName,
  resolveModelsConfig,
  type ModelConfig,
  type ModelsConfig,
  type ResolvedUpstream,
  type CircuitConfig,
  type SchedulingConfig,
  type ProviderConfig,
  type OpenAIProviderConfig,
  type SimulatedProviderConfig,
} from "./models-config";
export { MESSAGE_ROLES, type MessageRole, type ChatMessage, type ToolCall, type GenerationParams, type FinishReason, type Usage, type Choice, type StreamPiece } from "./generation";
export { newTaskId, isTaskId, newBatchId } from "./ids";
export { storedConfigsSchema, type StoredConfigs, toGenerationParams } from "./task-request";
export { MAX_LISTED_ISSUES, formatPath, formatZodError, truncate, zodIssuePath } from "./zod-format";
export { type Logger, type LogFn } from "./logger";
export { memoisedClose, type ShutdownStep } from "./shutdown";
export { unsupportedField, unsupportedOnAny, fallbackRefusal, type RequestNeeds } from "./capabilities";
export { prepareTask, type TaskInput, type PreparedTask, type TaskEndpoint } from "./task-preparation";
export { jsonlLines, type JsonlLine } from "./jsonl";
export { estimatePromptTokens, estimateTextTokens, taskTokenBudget } from "./task-budget";
export { WEBHOOK_EVENTS, DEFAULT_WEBHOOK_EVENTS, webhookSpecSchema, type WebhookEvent, type WebhookSpec, type StoredWebhook } from "./webhook-spec";
export { taskData, isoOrNull, type TaskFields } from "./task-view";
export { RESPONSE_ID_PREFIX, responseIdOf, responseStateOf, type ResponseState } from "./response-status";
export { SERVICE_TIERS, REQUESTED_SERVICE_TIERS, serviceTierOf, type ServiceTier, type RequestedServiceTier } from "./service-tier";
export { taskDeadlineFields, deadlinesOf, type TaskDeadlines } from "./task-deadlines";
export { isSupportedDate } from "./dates";
export { MINIMUM_NODE_MAJOR, unsupportedNode } from "./node-version";
