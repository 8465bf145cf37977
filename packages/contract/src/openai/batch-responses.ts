import { z } from "zod";

/** OpenAI's batch object (built by apps/api batches/format.ts; checked in tests). */
const seconds = z.number().int().nullable();
export const batchSchema = z
  .object({
    id: z.string().meta({ example: "batch_4f2c0c7d9a8e4b51a1f3c2d4e5f60718" }),
    object: z.literal("batch"),
    endpoint: z.string(),
    errors: z
      .object({ object: z.literal("list"), data: z.array(z.object({ code: z.string(), message: z.string(), param: z.string().nullable(), line: z.number().int() })) })
      .nullable(),
    input_file_id: z.string().nullable(),
    completion_window: z.string(),
    status: z.enum(["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]),
    output_file_id: z.string().nullable().meta({ description: "Results of completed requests, one JSONL line each (after the batch ended)." }),
    error_file_id: z.string().nullable().meta({ description: "Failed, cancelled and expired requests." }),
    created_at: seconds,
    in_progress_at: seconds,
    expires_at: seconds,
    finalizing_at: seconds,
    completed_at: seconds,
    failed_at: seconds,
    expired_at: seconds,
    cancelling_at: seconds,
    cancelled_at: seconds,
    request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
    metadata: z.record(z.string(), z.string()).nullable(),
  })
  .meta({ id: "Batch" });

export const batchListSchema = z
  .object({ object: z.literal("list"), data: z.array(batchSchema), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() })
  .meta({ id: "BatchList" });
