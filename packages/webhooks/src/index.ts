export {
  type TargetPolicy,
  type TargetAccess,
  type PortRange,
  type AddressClass,
  parseTargetPolicy,
  parseAllowedPorts,
  classifyAddress,
  isAddressAllowed,
  assertTargetAllowed,
  DEFAULT_WEBHOOK_PORTS,
} from "./target-policy";
export { signedHeaders } from "./signing";
export { postWebhook, responseExcerpt, type SendResult } from "./sender";
export { type WebhookPayload, taskPayload, batchPayload, responseEventPayload, RESPONSE_WEBHOOK_EVENTS } from "./payloads";
export { WebhookNotifier } from "./notifier";
export { createWebhookDeliveryProcessor, type DeliveryProcessorDeps } from "./delivery-processor";
export { webhookTargetEnv, targetPolicyOf } from "./env";
