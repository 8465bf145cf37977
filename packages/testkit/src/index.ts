// Test helpers that need no running app. The whole-stack harness is `@llmq/stack` (tests/stack).
export {
  startOpenAIFixture,
  type OpenAIFixture,
  type OpenAIFixtureOptions,
  type FixtureBehaviour,
  type RecordedRequest,
} from "./openai-fixture";
export { createTestDatabase, redisReady, testRedisUrl, uniquePrefix } from "./services";
export { eventually, json } from "./poll";
export { readSse, type SseEvent } from "./sse-client";
export { startWebhookReceiver, verifyWebhook, type WebhookReceiver, type ReceivedWebhook, type ReceiverAnswer } from "./webhook-receiver";
export { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis, type PrivateRedisOptions } from "./private-servers";
export { freePort, startNotHttpServer } from "./ports";
export { spawnService, type ServiceProcess } from "./processes";
export { sourceLinesMatching } from "./source-lines";
export { fillHistory, history, historyKeyHash, openTasksOf, batchBlockOf, type HistoryFillOptions } from "./history-fill";
export { startPrivateRedisCluster, testRedisClusterNodes, parseClusterNodes, type PrivateRedisCluster, type ClusterNodeInfo } from "./redis-cluster";
