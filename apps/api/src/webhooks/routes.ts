import { isoOrNull } from "@llmq/core";
import type { WebhookAttemptRecord, WebhookDeliveryRecord } from "@llmq/db";
import { deliveryEnvelopeSchema, deliveryListSchema, listDeliveriesQuerySchema, secretEnvelopeSchema } from "@llmq/contract";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { principalOf } from "../http/principal";
import { DeclaredRouter, route } from "../http/route";
import { flexstackErrors, json } from "../openapi/responses";

const deliveryIdParams = z.object({ deliveryId: z.string().meta({ description: "The `webhook-id`, e.g. `msg_<task_id>_completed`." }) });

/** `/v1/ai/webhooks`. */
export const webhookRoutes = {
  secret: route({
    method: "get",
    path: "/v1/ai/webhooks/secret",
    summary: "The signing secret of your webhooks (Standard Webhooks `whsec_...`), one per API key",
    responses: { 200: json("The secret.", secretEnvelopeSchema), ...flexstackErrors },
  }),
  rotate: route({
    method: "post",
    path: "/v1/ai/webhooks/secret/rotate",
    summary: "Replace the signing secret; attempts from now on are signed with the new one",
    responses: { 200: json("The new secret.", secretEnvelopeSchema), ...flexstackErrors },
  }),
  deliveries: route({
    method: "get",
    path: "/v1/ai/webhooks/deliveries",
    summary: "Webhook deliveries of your tasks and batches, newest first, with every attempt",
    request: { query: listDeliveriesQuerySchema },
    responses: { 200: json("A page of deliveries.", deliveryListSchema), ...flexstackErrors },
  }),
  delivery: route({
    method: "get",
    path: "/v1/ai/webhooks/deliveries/{deliveryId}",
    summary: "One delivery: its payload, status, and each attempt's status code, error and answer",
    request: { params: deliveryIdParams },
    responses: { 200: json("The delivery.", deliveryEnvelopeSchema), ...flexstackErrors },
  }),
  redeliver: route({
    method: "post",
    path: "/v1/ai/webhooks/deliveries/{deliveryId}/redeliver",
    summary: "Send a delivery that succeeded or gave up once more, now (same `webhook-id`)",
    request: { params: deliveryIdParams },
    responses: { 200: json("The delivery, pending again.", deliveryEnvelopeSchema), ...flexstackErrors },
  }),
};


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
export function webhooksRouter(deps: Pick<AppDeps, "webhookService">): DeclaredRouter {
  const router = new DeclaredRouter("/v1/ai/webhooks");
  const { webhookService } = deps;

  router.handle(webhookRoutes.secret, async (_input, req, res) => {
    const caller = principalOf(req);
    res.json(dataEnvelope({ secret: await webhookService.secret(caller), key_id: caller.keyId }, req, res.locals.startedAt!));
  });

  router.handle(webhookRoutes.rotate, async (_input, req, res) => {
    const caller = principalOf(req);
    res.json(dataEnvelope({ secret: await webhookService.rotateSecret(caller), key_id: caller.keyId }, req, res.locals.startedAt!));
  });

  router.handle(webhookRoutes.deliveries, async ({ query }, req, res) => {
    const caller = principalOf(req);
    const after = query.after ? await webhookService.delivery(caller, query.after) : undefined;
    const page = await webhookService.list(caller, { taskId: query.task_id, batchId: query.batch_id, status: query.status, after, limit: query.limit });
    const data = page.deliveries.map(deliveryData);
    res.json(dataEnvelope({ deliveries: data, last_id: data[data.length - 1]?.id ?? null, has_more: page.hasMore }, req, res.locals.startedAt!));
  });

  router.handle(webhookRoutes.delivery, async ({ params }, req, res) => {
    res.json(dataEnvelope(deliveryData(await webhookService.delivery(principalOf(req), params.deliveryId)), req, res.locals.startedAt!));
  });

  router.handle(webhookRoutes.redeliver, async ({ params }, req, res) => {
    res.json(dataEnvelope(deliveryData(await webhookService.redeliver(principalOf(req), params.deliveryId)), req, res.locals.startedAt!));
  });

  return router;
}
