import { z } from "zod";
import { REQUEST_LIMITS as L, taskDeadlineFields } from "@llmq/core";
import { nullOnly, offOnlyFlag } from "../shared/not-supported";
import { requestedServiceTierSchema } from "../shared/service-tier";

/** Text parts are joined; any other part type is refused (these models read text only). */
const contentPartSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text"), text: z.string().max(L.contentChars) }),
  z.strictObject({ type: z.literal("refusal"), refusal: z.string().max(L.contentChars) }),
]);
const contentSchema = z.union([z.string().max(L.contentChars), z.array(contentPartSchema).min(1).max(L.parts)]);
const nameSchema = z.string().max(L.idChars);

const toolCallSchema = z.strictObject({
  id: z.string().min(1).max(L.idChars),
  type: z.literal("function"),
  function: z.strictObject({ name: z.string().min(1).max(L.idChars), arguments: z.string().max(L.contentChars) }),
});

const messageSchema = z.discriminatedUnion("role", [
  z.strictObject({ role: z.literal("system"), content: contentSchema, name: nameSchema.optional() }),
  z.strictObject({ role: z.literal("developer"), content: contentSchema, name: nameSchema.optional() }),
  z.strictObject({ role: z.literal("user"), content: contentSchema, name: nameSchema.optional() }),
  z.strictObject({
    role: z.literal("assistant"),
    content: contentSchema.nullable().optional(),
    name: nameSchema.optional(),
    tool_calls: z.array(toolCallSchema).max(L.toolCalls).optional(),
    refusal: z.string().max(L.contentChars).nullable().optional(),
  }),
  z.strictObject({ role: z.literal("tool"), content: contentSchema, tool_call_id: z.string().min(1).max(L.idChars) }),
]);

const stopSchema = z.union([z.string().min(1).max(L.stopChars), z.array(z.string().min(1).max(L.stopChars)).max(4)]).nullable();

const toolSchema = z.strictObject({
  type: z.literal("function"),
  function: z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "function names use letters, digits, _ and -, at most 64"),
    description: z.string().max(L.descriptionChars).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.strictObject({ type: z.literal("function"), function: z.strictObject({ name: z.string().min(1) }) }),
]);

const responseFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({ type: z.literal("json_schema"), json_schema: z.record(z.string(), z.unknown()) }),
]);

/** Sampling fields both OpenAI endpoints share. */
const samplingFields = {
  model: z.string().min(1).max(L.idChars),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  /** Not OpenAI's; vLLM and Flexstack accept it. */
  top_k: z.number().int().min(1).max(1000).optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional(),
  stop: stopSchema.optional(),
  seed: z.number().int().nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string().regex(/^\d+$/, "logit_bias keys are token ids"), z.number().min(-100).max(100)).nullable().optional(),
  user: z.string().max(256).optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  service_tier: requestedServiceTierSchema.nullable().optional(),
  ...taskDeadlineFields,
};

/** `POST /v1/chat/completions`, as OpenAI documents it (fields we cannot honour anywhere are refused). */
export const chatCompletionRequestSchema = z
  .strictObject({
    ...samplingFields,
    messages: z.array(messageSchema).min(1, "messages must hold at least one message").max(L.messages),
    max_completion_tokens: z.number().int().min(1).nullable().optional(),
    tools: z.array(toolSchema).min(1).max(128).optional(),
    tool_choice: toolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: responseFormatSchema.optional(),
    metadata: z
      .record(z.string().max(64), z.string().max(512))
      .refine((value) => Object.keys(value).length <= L.metadataPairs, `at most ${L.metadataPairs} keys`)
      .optional(),
    store: z.boolean().nullable().optional(),
    logprobs: offOnlyFlag().nullable().optional(),
    top_logprobs: nullOnly().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.stream_options && !body.stream) {
      ctx.addIssue({ code: "custom", path: ["stream_options"], message: "stream_options is only allowed with stream: true" });
    }
    if (body.tool_choice !== undefined && body.tool_choice !== "none" && !body.tools) {
      ctx.addIssue({ code: "custom", path: ["tool_choice"], message: "tool_choice needs tools" });
    }
  });

/** `POST /v1/completions` (legacy): a prompt or several, as text. */
export const completionRequestSchema = z
  .strictObject({
    ...samplingFields,
    prompt: z.union([z.string().max(L.contentChars), z.array(z.string().max(L.contentChars)).min(1).max(32)]),
    echo: z.boolean().nullable().optional(),
    suffix: z.null().optional(),
    best_of: z.literal(1).nullable().optional(),
    logprobs: nullOnly().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.stream_options && !body.stream) {
      ctx.addIssue({ code: "custom", path: ["stream_options"], message: "stream_options is only allowed with stream: true" });
    }
    // Each choice of each prompt is one upstream request, all inside one task.
    const prompts = Array.isArray(body.prompt) ? body.prompt.length : 1;
    const n = body.n ?? 1;
    if (n * prompts > L.choicesPerTask) {
      ctx.addIssue({
        code: "custom",
        path: ["n"],
        message: `n × prompts is at most ${L.choicesPerTask} choices per request (here ${n} × ${prompts} prompts = ${n * prompts}): lower n, send fewer prompts, or split them over several requests`,
      });
    }
  });

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
