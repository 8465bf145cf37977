import { z } from "zod";
import { servedTierSchema } from "../shared/service-tier";

/** OpenAI-dialect response shapes (built by apps/api openai/format.ts; the test suite checks every answer against them). */
const usage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });
const toolCall = z.object({ id: z.string(), type: z.literal("function"), function: z.object({ name: z.string(), arguments: z.string() }) });
const ours = {
  status: z.enum(["queued", "in_progress", "completed", "failed", "cancelled", "expired"]).meta({ description: "Ours: where the task stands (async use)." }),
  task_id: z.string().meta({ description: "Ours: the task behind this completion, for the task API." }),
  error: z
    .object({ code: z.string(), message: z.string().nullable() })
    .optional()
    .meta({ description: "Ours, on `GET .../{completion_id}` of a task that ended in error: why." }),
};

export const chatCompletionSchema = z
  .object({
    id: z.string().meta({ example: "chatcmpl-cf86cbda217c481f8dbc9fb24b7e79e0" }),
    object: z.literal("chat.completion"),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal("assistant"), content: z.string().nullable(), refusal: z.null(), tool_calls: z.array(toolCall).optional() }),
        logprobs: z.null(),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage,
    system_fingerprint: z.string(),
    service_tier: servedTierSchema,
    ...ours,
  })
  .meta({ id: "ChatCompletion" });

export const textCompletionSchema = z
  .object({
    id: z.string().meta({ example: "cmpl-cf86cbda217c481f8dbc9fb24b7e79e0" }),
    object: z.literal("text_completion"),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.object({ text: z.string(), index: z.number().int(), logprobs: z.null(), finish_reason: z.string().nullable() })),
    usage,
    system_fingerprint: z.string(),
    service_tier: servedTierSchema,
    ...ours,
  })
  .meta({ id: "TextCompletion" });

const model = z.object({ id: z.string(), object: z.literal("model"), created: z.number().int(), owned_by: z.string() }).meta({ id: "OpenAIModel" });
export const modelSchema = model;
export const modelListSchema = z.object({ object: z.literal("list"), data: z.array(model) }).meta({ id: "OpenAIModelList" });

export const openAIErrorSchema = z
  .object({ error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }) })
  .meta({ id: "OpenAIError" });
