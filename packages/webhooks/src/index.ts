export { type TargetPolicy, parseTargetPolicy, isAddressAllowed, assertTargetAllowed } from "./target-policy";
export { signedHeaders } from "./signing";
export { postWebhook, type SendResult } from "./sender";
export { type WebhookPayload, taskPayload, batchPayload } from "./payloads";
export { WebhookNotifier } from "./notifier";
export { createWebhookDeliveryProcessor, type DeliveryProcessorDeps } from "./delivery-processor";
export { webhookTargetsEnvSchema } from "./env";
