import { z } from "zod";
import { dataEnvelopeSchema } from "./responses";

export const listDeliveriesQuerySchema = z.strictObject({
  task_id: z.string().min(1).optional().meta({ description: "Only the deliveries of this task." }),
  batch_id: z.string().min(1).optional().meta({ description: "Only the deliveries of this batch." }),
  status: z.enum(["pending", "succeeded", "failed"]).optional(),
  after: z.string().min(1).optional().meta({ description: "The last delivery id of the previous page." }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

const attemptSchema = z.object({
  attempt: z.number().int(),
  started_at: z.string(),
  duration_ms: z.number().int(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable().meta({ description: "Why the attempt got no answer; for private targets always the same words, whatever happened." }),
  response_body: z.string().nullable().meta({ description: "The first 256 bytes of a non-2xx answer of a public receiver, control characters replaced by spaces; null for a 2xx answer and always for private targets." }),
});

const deliverySchema = z
  .object({
    id: z.string().meta({ description: "The `webhook-id` header: the same for every attempt, so receivers can drop duplicates." }),
    event_type: z.string().meta({ example: "task.completed", description: "`task.*` and `batch.*`; for a response `response.completed`, `response.incomplete`, `response.failed` or `response.cancelled`." }),
    task_id: z.string().nullable(),
    batch_id: z.string().nullable(),
    url: z.string(),
    status: z.enum(["pending", "succeeded", "failed"]),
    attempt_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()).meta({ description: "The body sent: `{type, timestamp, data}`; for a response (`/v1/responses`) OpenAI's event `{id, object, created_at, type, data: {id}}`." }),
    attempts: z.array(attemptSchema),
  })
  .meta({ id: "WebhookDelivery" });

const secretSchema = z
  .object({
    secret: z.string().meta({ description: "Standard Webhooks secret (`whsec_` + base64) that signs webhooks of what this key submits." }),
    key_id: z.string().nullable().meta({ description: "The API key it belongs to (null: the admin key or a session, whose user holds it)." }),
  })
  .meta({ id: "WebhookSecret" });

export const deliveryEnvelopeSchema = dataEnvelopeSchema("WebhookDeliveryEnvelope", deliverySchema);
export const deliveryListSchema = dataEnvelopeSchema(
  "WebhookDeliveryList",
  z.object({ deliveries: z.array(deliverySchema), last_id: z.string().nullable(), has_more: z.boolean() }),
);
export const secretEnvelopeSchema = dataEnvelopeSchema("WebhookSecretEnvelope", secretSchema);
