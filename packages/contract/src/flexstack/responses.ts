import { MESSAGE_ROLES, TASK_STATUSES } from "@llmq/core";
import { z } from "zod";
import { FLEX_TIME_PATTERN } from "./times";
import { servedTierSchema } from "../shared/service-tier";

const flexTimeSchema = z
  .string()
  .regex(FLEX_TIME_PATTERN, "a UTC time like 2024-03-05 21:24:55.572492")
  .meta({ description: "UTC, no zone, microseconds (Flexstack's format).", example: "2024-03-05 21:24:55.572492" });

/** Flexstack-dialect response shapes (built by apps/api flexstack/envelope.ts; the test suite checks every answer against them). */
const frame = {
  errors: z.array(z.object({ code: z.string(), message: z.string(), param: z.string().nullable().optional() })),
  error_description: z.string(),
  start_time: flexTimeSchema.meta({ description: "When the request arrived: UTC, no zone, microseconds (Flexstack's format).", example: "2024-03-05 21:24:55.572492" }),
  end_time: flexTimeSchema.meta({ description: "When the answer was written: UTC, no zone, microseconds.", example: "2024-03-05 21:25:00.601529" }),
  host_of_client_call_request: z.string(),
  total_time_by_second: z.number().meta({ description: "end_time - start_time in seconds, six decimals (microseconds).", example: 5.029042 }),
};

/** A message as a task stores it, whichever dialect sent it: content is null for an assistant message that only calls tools. */
export const storedMessageSchema = z
  .object({
    role: z.enum(MESSAGE_ROLES),
    content: z.string().nullable(),
    name: z.string().optional(),
    tool_call_id: z.string().optional(),
    tool_calls: z.array(z.object({ id: z.string(), type: z.literal("function"), function: z.object({ name: z.string(), arguments: z.string() }) })).optional(),
  })
  .meta({ id: "TaskMessage" });

export const taskDataSchema = z
  .object({
    task_id: z.string().meta({ example: "cf86cbda217c481f8dbc9fb24b7e79e0" }),
    endpoint: z.enum(["task", "chat.completion", "text_completion", "response"]).meta({
      description: "The API the task came through: `task` (this API), `chat.completion` or `text_completion` (OpenAI's), `response` (OpenAI's Responses API, id `resp_<task_id>`).",
    }),
    service_tier: servedTierSchema,
    batch_id: z.string().nullable().meta({ description: "The batch this task belongs to, if any." }),
    custom_id: z.string().nullable().meta({ description: "Its `custom_id` inside that batch." }),
    total_tasks: z.number().int(),
    percent: z.number().int().min(0).max(100),
    status: z.enum(TASK_STATUSES),
    response: z.string(),
    model: z.string(),
    finish_reason: z.string().nullable(),
    usage: z.object({ prompt_tokens: z.number().nullable(), completion_tokens: z.number(), total_tokens: z.number().nullable() }),
    attempts: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    first_token_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    timings: z.object({
      queue_wait_seconds: z.number().nullable(),
      time_to_first_token_seconds: z.number().nullable(),
      duration_seconds: z.number().nullable(),
    }),
    queue_position: z.number().int().min(1).nullable().optional().meta({
      description: "The task's place in its model's queue while it waits (1 = next to run), as `GET /v1/ai/tasks/{task_id}` computes it; null otherwise.",
    }),
    upstream: z.string().nullable().optional().meta({
      description:
        "Only in the admin's answers about one task (its GET, submit, cancel, retry and the stream's `result`; never anyone else's): the upstream (models file `upstreams[].name`) that served the task's last attempt, choice 0's; null until one did.",
      example: "gpu-a",
    }),
    served_model: z.string().nullable().optional().meta({
      description: "Only in the admin's answers about one task, beside `upstream`: the model that served the task (its own, or a fallback); null until one did.",
    }),
    eta_seconds: z.number().nullable().optional().meta({
      description:
        "Estimated seconds until a waiting task completes (computed by `GET /v1/ai/tasks/{task_id}`), from its place, the model's worker concurrency and the run times of its queue's last jobs; null when not waiting or nothing ran yet.",
    }),
  })
  .meta({ id: "TaskData" });

export const taskEnvelopeSchema = z
  .object({
    data: z.object({
      is_success: z.boolean(),
      data: taskDataSchema,
      configs: z.object({
        model: z.string(),
        max_new_tokens: z.number().int(),
        // Tasks created through the OpenAI dialect carry only the settings their caller sent.
        top_k: z.number().int().optional(),
        top_p: z.number().optional(),
        temperature: z.number().optional(),
        stop: z.array(z.string()).optional(),
        seed: z.number().int().optional(),
        task_type: z.string().meta({ example: "LLM-GEMMA-7B" }),
        queue_name: z.string().meta({ example: "llm_gemma_7b_queue" }),
        messages: z.array(storedMessageSchema),
      }),
    }),
    ...frame,
    status: z.literal("success"),
  })
  .meta({ id: "TaskEnvelope" });

export function dataEnvelopeSchema<T extends z.ZodType>(id: string, payload: T) {
  return z.object({ data: z.object({ is_success: z.literal(true), data: payload }), ...frame, status: z.literal("success") }).meta({ id });
}

export const errorEnvelopeSchema = z.object({ data: z.null(), ...frame, status: z.literal("error") }).meta({ id: "ErrorEnvelope" });

/** A task as lists show it: history rows and live task-list events. */
export const historyRowSchema = taskDataSchema
  .extend({ queue_name: z.string(), owner_id: z.string().meta({ description: "The user who owns the task." }) })
  .meta({ id: "TaskRow" });

export const historySchema = dataEnvelopeSchema(
  "TaskHistory",
  z.object({ tasks: z.array(historyRowSchema), next_cursor: z.string().nullable(), has_more: z.boolean() }),
);

const queueCounts = z.object({ waiting: z.number(), active: z.number(), delayed: z.number(), completed: z.number(), failed: z.number() });
export const modelsSchema = dataEnvelopeSchema(
  "ModelList",
  z.array(
    z.object({
      model: z.string(),
      queue_name: z.string(),
      task_type: z.string(),
      provider: z.string(),
      upstream_model: z.string(),
      concurrency: z.number(),
      max_tokens: z.number(),
      description: z.string().nullable(),
      queue: queueCounts,
    }),
  ),
);

/** A key's or user's own limits as the admin API shows them: null where inherited. */
export const ownLimitsSchema = z.object({
  rate_limit_per_minute: z.number().int().nullable(),
  max_concurrent_tasks: z.number().int().nullable(),
  tokens_per_day: z.number().int().nullable(),
  max_open_streams: z.number().int().nullable(),
  fair_share_weight: z.number().int().nullable(),
});
const keyLimitsView = ownLimitsSchema.meta({
    description:
      "The key's own limits; null: the deployment default (RATE_LIMIT_PER_MINUTE, MAX_CONCURRENT_TASKS_PER_KEY, TOKENS_PER_DAY_PER_KEY, MAX_OPEN_STREAMS_PER_KEY); fair_share_weight null: its user's, else 1.",
  });
const keyWebhooksView = z
  .object({ allow_private_targets: z.boolean() })
  .meta({ description: "The admin's grant: webhooks of this key may target the private ranges of WEBHOOK_ALLOWED_CIDRS." });
const keyFields = { id: z.string(), name: z.string(), prefix: z.string(), user_id: z.string(), limits: keyLimitsView, webhooks: keyWebhooksView, created_at: z.string() };
export const createdKeySchema = dataEnvelopeSchema("CreatedKey", z.object({ ...keyFields, key: z.string().meta({ description: "The secret; shown only once." }) }));
export const keyListSchema = dataEnvelopeSchema(
  "KeyList",
  z.array(z.object({ ...keyFields, user_name: z.string(), last_used_at: z.string().nullable(), revoked_at: z.string().nullable() })),
);
export const keyLimitsResponseSchema = dataEnvelopeSchema(
  "KeyWithLimits",
  z.object({ id: z.string(), name: z.string(), prefix: z.string(), user_id: z.string(), limits: keyLimitsView, webhooks: keyWebhooksView }),
);
export const revokedKeySchema = dataEnvelopeSchema("RevokedKey", z.object({ id: z.string(), revoked: z.literal(true) }));
