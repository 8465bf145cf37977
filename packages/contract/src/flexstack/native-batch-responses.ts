import { BATCH_STATUSES, TASK_STATUSES } from "@llmq/core";
import { z } from "zod";
import { dataEnvelopeSchema } from "./responses";

/** Native batch shapes, as apps/api builds them (built by native-batches/format.ts); the test suite checks every answer against them. */
const time = z.string().nullable();
const nativeBatchSchema = z
  .object({
    batch_id: z.string().meta({ example: "batch_4f2c0c7d9a8e4b51a1f3c2d4e5f60718" }),
    kind: z.enum(["native", "openai"]),
    dialect: z.enum(["flexstack", "openai"]).meta({
      description: "The API that created the batch: `flexstack` (`POST /v1/ai/batches`) or `openai` (`POST /v1/batches`, the OpenAI Batch API; `npx llmq batch submit`).",
    }),
    status: z.enum(BATCH_STATUSES),
    endpoint: z.string(),
    total: z.number().int(),
    counts: z.object(Object.fromEntries(TASK_STATUSES.map((status) => [status, z.number().int()]))),
    percent: z.number().int().min(0).max(100).meta({ description: "Finished tasks (any final status) over total, floored." }),
    completion_window: z.string(),
    created_at: z.string(),
    in_progress_at: time,
    expires_at: z.string(),
    completed_at: time,
    cancelling_at: time,
    cancelled_at: time,
    expired_at: time,
    failed_at: time,
  })
  .meta({ id: "NativeBatch" });

export const nativeBatchEnvelopeSchema = dataEnvelopeSchema("NativeBatchEnvelope", nativeBatchSchema);
export const createdNativeBatchSchema = dataEnvelopeSchema(
  "CreatedNativeBatch",
  z.object({
    batch_id: z.string(),
    status: z.enum(BATCH_STATUSES),
    total: z.number().int(),
    task_ids: z.array(z.string()).meta({ description: "One task id per request, in request order." }),
  }),
);
export const nativeBatchListSchema = dataEnvelopeSchema(
  "NativeBatchList",
  z.object({ batches: z.array(nativeBatchSchema), last_id: z.string().nullable(), has_more: z.boolean() }),
);

/** One line of `GET /v1/ai/batches/{batchId}/results` (JSON lines): a finished task, keyed by custom_id and task_id. */
export const nativeBatchResultLineSchema = z
  .object({
    custom_id: z.string().nullable(),
    task_id: z.string(),
    status: z.enum(TASK_STATUSES),
    response: z.string().nullable(),
    finish_reason: z.string().nullable(),
    usage: z.object({ prompt_tokens: z.number().int().nullable(), completion_tokens: z.number().int(), total_tokens: z.number().int().nullable() }),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: "NativeBatchResultLine" });
