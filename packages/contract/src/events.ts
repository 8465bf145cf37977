import { TASK_STATUSES } from "@llmq/core";
import { z } from "zod";
import { errorEnvelopeSchema, historyRowSchema, taskEnvelopeSchema } from "./flexstack/responses";
import { openAIErrorSchema } from "./openai/responses";
import { servedTierSchema } from "./shared/service-tier";

/**
 * The Server-Sent Events of both dialects. Task dialect (`GET /v1/ai/tasks/{id}/events`,
 * `POST /v1/ai/text_completion?stream=true`): `status`, `token`, then `result` (the task envelope), or a
 * last `error` (the error envelope) when the stream's credential stops granting it. Live task list
 * (`GET /v1/ai/tasks/updates`): `task`, a history row with its owner.
 */
export const taskStatusEventSchema = z
  .object({
    task_id: z.string(),
    status: z.enum(TASK_STATUSES),
    attempt: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .meta({ id: "TaskStatusEvent" });
export const taskTokenEventSchema = z
  .object({ task_id: z.string(), status: z.literal("RUNNING"), delta: z.string(), percent: z.number(), tokens: z.number().int() })
  .meta({ id: "TaskTokenEvent" });

/** Each named event of the task stream and its data. */
export const taskStreamEvents = {
  status: taskStatusEventSchema,
  token: taskTokenEventSchema,
  result: taskEnvelopeSchema,
  error: errorEnvelopeSchema,
} as const;
export type TaskStreamEvent = { [E in keyof typeof taskStreamEvents]: { event: E; data: z.infer<(typeof taskStreamEvents)[E]> } }[keyof typeof taskStreamEvents];

/** The live task list's events: `task`, or a last `error` when the stream's credential stops granting it. */
export const taskFeedEvents = { task: historyRowSchema, error: errorEnvelopeSchema } as const;
export type TaskFeedEvent = { [E in keyof typeof taskFeedEvents]: { event: E; data: z.infer<(typeof taskFeedEvents)[E]> } }[keyof typeof taskFeedEvents];

const chunkToolCall = z.object({
  index: z.number().int(),
  id: z.string().optional(),
  type: z.literal("function").optional(),
  function: z.object({ name: z.string().optional(), arguments: z.string().optional() }),
});
const streamUsage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });
const chunkBase = { id: z.string(), created: z.number().int(), model: z.string(), system_fingerprint: z.string(), service_tier: servedTierSchema };

/** One `data:` frame of a streamed chat completion (OpenAI dialect); the stream ends with `data: [DONE]`. */
export const chatCompletionChunkSchema = z
  .object({
    ...chunkBase,
    object: z.literal("chat.completion.chunk"),
    choices: z.array(
      z.object({
        index: z.number().int(),
        delta: z.object({ role: z.literal("assistant").optional(), content: z.string().optional(), refusal: z.null().optional(), tool_calls: z.array(chunkToolCall).optional() }),
        logprobs: z.null(),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: streamUsage.nullable().optional(),
  })
  .meta({ id: "ChatCompletionChunk" });

/** One `data:` frame of a streamed legacy completion. */
export const textCompletionChunkSchema = z
  .object({
    ...chunkBase,
    object: z.literal("text_completion"),
    choices: z.array(z.object({ index: z.number().int(), text: z.string(), logprobs: z.null(), finish_reason: z.string().nullable() })),
    usage: streamUsage.nullable().optional(),
  })
  .meta({ id: "TextCompletionChunk" });

/** A failure after an OpenAI stream began: one `data: {"error": ...}` frame, then the stream closes. */
export const openAIStreamErrorSchema = openAIErrorSchema;

export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;
export type TextCompletionChunk = z.infer<typeof textCompletionChunkSchema>;
