import type { Logger } from "@llmq/core";
import type { ApiKeyRepository, AttemptOutcome, WebhookDeliveryRepository, WebhookSecretRepository } from "@llmq/db";
import { type WebhookJobs, jobCatalog } from "@llmq/queue";
import type { Job } from "bullmq";
import { type SendResult, postWebhook } from "./sender";
import { signedHeaders } from "./signing";
import type { TargetPolicy } from "./target-policy";

export interface DeliveryProcessorDeps {
  deliveries: WebhookDeliveryRepository;
  secrets: WebhookSecretRepository;
  jobs: WebhookJobs;
  policy: TargetPolicy;
  /** The admin's grants of private targets, checked again at every attempt (a grant may have been withdrawn). */
  grants: Pick<ApiKeyRepository, "mayTargetPrivateWebhooks">;
  timeoutMs: number;
  /** Delay before each retry: the delivery gets `retryDelaysMs.length + 1` attempts in all. */
  retryDelaysMs: readonly number[];
  logger: Logger;
}

/** A receiver's Retry-After is honoured, up to this much longer than our own schedule asks. */
const MAX_RETRY_AFTER_MS = 24 * 3600_000;

/**
 * Runs one attempt of a delivery: signs the stored payload, POSTs it, records the attempt, and
 * schedules the next one as a delayed job when the receiver did not answer 2xx. 410 Gone and targets
 * the policy refuses end the delivery at once. A job for an attempt already recorded does nothing.
 */
export function createWebhookDeliveryProcessor(deps: DeliveryProcessorDeps) {
  return async (job: Job): Promise<void> => {
    const { deliveryId, attempt } = jobCatalog["webhook-delivery"].payload.parse(job.data);
    const delivery = await deps.deliveries.findById(deliveryId);
    if (!delivery || delivery.status !== "pending" || delivery.attemptCount !== attempt - 1) return;

    const owner = { keyId: delivery.apiKeyId, userId: delivery.ownerId };
    const secret = await deps.secrets.secretOf(owner);
    const privateTargets = await deps.grants.mayTargetPrivateWebhooks(owner);
    const startedAt = new Date();
    const body = JSON.stringify(delivery.payload);
    const result: SendResult = secret
      ? await postWebhook({ url: delivery.url, headers: signedHeaders(secret, delivery.id, startedAt, body), body, timeoutMs: deps.timeoutMs, policy: deps.policy, privateTargets })
      : { statusCode: null, error: "the signing key no longer exists", detail: null, refused: true, responseBody: null, retryAfterMs: null, durationMs: 0, privateTarget: false };

    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const retryDelay = deps.retryDelaysMs[attempt - 1];
    const giveUp = result.refused || result.statusCode === 410 || retryDelay === undefined;
    const delayMs = Math.max(retryDelay ?? 0, Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
    const outcome: AttemptOutcome = {
      startedAt,
      durationMs: result.durationMs,
      statusCode: result.statusCode,
      error: result.error,
      responseBody: result.responseBody,
      next: ok ? { status: "succeeded" } : giveUp ? { status: "failed" } : { status: "pending", at: new Date(Date.now() + delayMs) },
    };
    if (!(await deps.deliveries.recordAttempt(deliveryId, attempt, outcome))) return;
    // The log has what happened (codes, addresses); the record only what the caller may read.
    const log = { deliveryId, attempt, statusCode: result.statusCode, error: result.detail ?? result.error, privateTarget: result.privateTarget, durationMs: result.durationMs };
    if (ok) deps.logger.debug(log, "webhook delivered");
    else if (outcome.next.status === "failed") deps.logger.warn(log, "webhook delivery gave up");
    else deps.logger.info({ ...log, retryInMs: delayMs }, "webhook attempt failed; retrying");
    if (outcome.next.status === "pending") await deps.jobs.enqueueAttempt(deliveryId, attempt + 1, delayMs);
  };
}
