import { MAX_TOKENS_LIMIT, MESSAGE_ROLES, REQUEST_LIMITS as L, taskDeadlineFields, webhookSpecSchema } from "@llmq/core";
import { z } from "zod";
import { offOnlyFlag } from "../shared/not-supported";
import { requestedServiceTierSchema } from "../shared/service-tier";

/** The model of a Flexstack task that names none. */
export const DEFAULT_MODEL = "gemma-7b";

export const chatMessageSchema = z.strictObject({
  role: z.enum(MESSAGE_ROLES),
  content: z.string().max(L.contentChars),
  name: z.string().min(1).max(L.idChars).optional(),
  tool_call_id: z.string().min(1).max(L.idChars).optional(),
});

const stopSchema = z.union([z.string().min(1).max(L.stopChars), z.array(z.string().min(1).max(L.stopChars)).min(1).max(4)]);

/** Flexstack `configs`, with Flexstack's documented defaults. `max_new_tokens` is an alias of `max_tokens`. */
export const textCompletionConfigsSchema = z
  .strictObject({
    model: z.string().min(1).max(L.idChars).default(DEFAULT_MODEL),
    temperature: z.number().min(0).max(2).default(0.7),
    top_k: z.number().int().min(1).max(1000).default(50),
    top_p: z.number().gt(0).max(1).default(0.5),
    max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).optional(),
    max_new_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).optional(),
    stop: stopSchema.optional(),
    seed: z.number().int().optional(),
    logprobs: offOnlyFlag().optional(),
  })
  .superRefine((configs, ctx) => {
    if (configs.max_tokens !== undefined && configs.max_new_tokens !== undefined && configs.max_tokens !== configs.max_new_tokens) {
      ctx.addIssue({ code: "custom", path: ["max_new_tokens"], message: "max_tokens and max_new_tokens differ; send one of them" });
    }
  })
  .transform(({ max_new_tokens, max_tokens, stop, logprobs: _off, ...rest }) => ({
    ...rest,
    max_tokens: max_tokens ?? max_new_tokens ?? 512,
    stop: stop === undefined ? undefined : typeof stop === "string" ? [stop] : stop,
  }));

/** The body of `POST /v1/ai/text_completion` (Flexstack's task dialect). */
export const textCompletionRequestSchema = z.strictObject({
  messages: z.array(chatMessageSchema).min(1, "messages must hold at least one message").max(L.messages),
  configs: textCompletionConfigsSchema.default(() => textCompletionConfigsSchema.parse({})),
  webhook: webhookSpecSchema.optional(),
  /** Beside `configs`, not in them: it is how the task waits, not how it is sampled. */
  service_tier: requestedServiceTierSchema.optional(),
  ...taskDeadlineFields,
});

export type TextCompletionRequest = z.infer<typeof textCompletionRequestSchema>;
export type TextCompletionConfigs = TextCompletionRequest["configs"];

