import { isoOrNull } from "@llmq/core";
import type { WebhookAttemptRecord, WebhookDeliveryRecord } from "@llmq/db";
import { Router } from "express";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { principalOf } from "../http/principal";
import { validate } from "../http/validate";
import { listDeliveriesQuerySchema } from "@llmq/contract";


function deliveryData(delivery: WebhookDeliveryRecord & { attempts: WebhookAttemptRecord[] }) {
  return {
    id: delivery.id,
    event_type: delivery.eventType,
    task_id: delivery.taskId,
    batch_id: delivery.batchId,
    url: delivery.url,
    status: delivery.status,
    attempt_count: delivery.attemptCount,
    next_attempt_at: delivery.status === "pending" ? isoOrNull(delivery.nextAttemptAt) : null,
    last_error: delivery.lastError,
    created_at: delivery.createdAt.toISOString(),
    delivered_at: isoOrNull(delivery.deliveredAt),
    payload: delivery.payload,
    attempts: delivery.attempts.map((attempt) => ({
      attempt: attempt.attempt,
      started_at: attempt.startedAt.toISOString(),
      duration_ms: attempt.durationMs,
      status_code: attempt.statusCode,
      error: attempt.error,
      response_body: attempt.responseBody,
    })),
  };
}

/** `/v1/ai/webhooks`: the caller's signing secret and the deliveries of its tasks' and batches' webhooks. */
export function webhooksRouter(deps: AppDeps): Router {
  const router = Router();
  const { webhookService } = deps;

  router.get("/secret", async (req, res) => {
    const caller = principalOf(req);
    res.json(dataEnvelope({ secret: await webhookService.secret(caller), key_id: caller.keyId }, req, res.locals.startedAt!));
  });

  router.post("/secret/rotate", async (req, res) => {
    const caller = principalOf(req);
    res.json(dataEnvelope({ secret: await webhookService.rotateSecret(caller), key_id: caller.keyId }, req, res.locals.startedAt!));
  });

  router.get("/deliveries", async (req, res) => {
    const query = validate(listDeliveriesQuerySchema, req.query, "query");
    const caller = principalOf(req);
    const after = query.after ? await webhookService.delivery(caller, query.after) : undefined;
    const page = await webhookService.list(caller, { taskId: query.task_id, batchId: query.batch_id, status: query.status, after, limit: query.limit });
    const data = page.deliveries.map(deliveryData);
    res.json(dataEnvelope({ deliveries: data, last_id: data[data.length - 1]?.id ?? null, has_more: page.hasMore }, req, res.locals.startedAt!));
  });

  router.get("/deliveries/:deliveryId", async (req, res) => {
    res.json(dataEnvelope(deliveryData(await webhookService.delivery(principalOf(req), req.params.deliveryId)), req, res.locals.startedAt!));
  });

  router.post("/deliveries/:deliveryId/redeliver", async (req, res) => {
    res.json(dataEnvelope(deliveryData(await webhookService.redeliver(principalOf(req), req.params.deliveryId)), req, res.locals.startedAt!));
  });

  return router;
}
