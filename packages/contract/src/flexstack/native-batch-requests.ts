import { webhookSpecSchema } from "@llmq/core";
import { MAX_BATCH_REQUESTS } from "../openai/batch-lines";
import { textCompletionRequestSchema } from "./requests";
import { z } from "zod";
import { completionWindowSchema } from "../openai/batch-requests";

/** One request of a native batch: a `POST /v1/ai/text_completion` body, plus the caller's id for it. */
export const nativeBatchItemSchema = z.strictObject({
  custom_id: z.string().min(1).max(512).optional().meta({ description: "Your id for this request, unique in the batch; default its index (\"0\", \"1\", ...)." }),
  // Webhooks and deadlines belong to the batch (its completion window), not to each item.
  ...textCompletionRequestSchema.omit({ webhook: true, queue_ttl_seconds: true, timeout_seconds: true }).shape,
});

/** Body of `POST /v1/ai/batches`. */
export const createNativeBatchSchema = z.strictObject({
  requests: z.array(nativeBatchItemSchema).min(1, "requests must hold at least one request").max(MAX_BATCH_REQUESTS),
  priority: z
    .number()
    .int()
    .min(1)
    .max(1_000)
    .optional()
    .meta({ description: "Admin only (anyone else: 403): BullMQ priority of the batch's jobs (higher runs later); default 100, the batch tier. Interactive calls always go first." }),
  completion_window: completionWindowSchema.default("24h"),
  webhook: webhookSpecSchema.optional(),
});
export type CreateNativeBatch = z.infer<typeof createNativeBatchSchema>;

/**
 * The same body with its requests left unchecked: the first pass, so a body's size and its request count
 * are refused before any request is looked at (each is then checked on its own, see batch-request.ts).
 */
export const nativeBatchShellSchema = createNativeBatchSchema.extend({
  requests: z.array(z.unknown()).min(1, "requests must hold at least one request").max(MAX_BATCH_REQUESTS),
});

/** Query of `GET /v1/ai/batches`. */
export const listNativeBatchesQuerySchema = z.strictObject({
  after: z.string().min(1).optional().meta({ description: "The last batch id of the previous page." }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
