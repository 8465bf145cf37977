import { webhookSpecSchema } from "@llmq/core";
import { BATCH_ENDPOINTS } from "./batch-lines";
import { z } from "zod";

/** OpenAI allows "24h"; we also take shorter or longer windows (s, m, h), up to 7 days. */
export const completionWindowSchema = z
  .string()
  .regex(/^\d{1,6}[smh]$/, "a duration such as 24h, 90m or 30s")
  .refine((value) => windowMs(value) >= 1_000 && windowMs(value) <= 7 * 24 * 3600 * 1000, "between 1s and 168h");

export function windowMs(value: string): number {
  const amount = Number(value.slice(0, -1));
  const unit = value.slice(-1);
  return amount * (unit === "s" ? 1_000 : unit === "m" ? 60_000 : 3_600_000);
}

export const createBatchSchema = z.strictObject({
  input_file_id: z.string().min(1).max(256),
  endpoint: z.enum(BATCH_ENDPOINTS),
  completion_window: completionWindowSchema,
  metadata: z
    .record(z.string().max(64), z.string().max(512))
    .refine((value) => Object.keys(value).length <= 16, "at most 16 keys")
    .nullable()
    .optional(),
  /** Our extension (OpenAI's Batch API has project-level webhooks instead): send it with the SDK's `extra_body`. */
  webhook: webhookSpecSchema.optional(),
});

export const listBatchesQuerySchema = z.strictObject({
  after: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
