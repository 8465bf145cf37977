import { z } from "zod";
import { REQUEST_LIMITS as L, taskDeadlineFields, webhookSpecSchema } from "@llmq/core";
import { nullOnly } from "../shared/not-supported";

/**
 * OpenAI's Responses API (`/v1/responses`), as a task: the request, the `response` object, its output
 * and input items. A response is a task (endpoint `response`); its id is `resp_` + the task id.
 */

const text = z.string().max(L.contentChars);

/** Input content parts: text only (these models read text); output parts come back in assistant items. */
const inputContentPart = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("input_text"), text }),
  z.object({ type: z.literal("output_text"), text, annotations: z.array(z.unknown()).optional(), logprobs: z.array(z.unknown()).optional() }),
  z.strictObject({ type: z.literal("refusal"), refusal: text }),
]);

/** A message item of `input`: a role and text (a string or parts). `type` may be left out, as OpenAI allows. */
export const responseInputMessageSchema = z.object({
  type: z.literal("message").optional(),
  id: z.string().max(L.idChars).optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([text, z.array(inputContentPart).min(1).max(L.parts)]),
  status: z.enum(["in_progress", "completed", "incomplete"]).optional(),
});

/** A function call the model made (sent back when continuing a conversation without previous_response_id). */
export const responseFunctionCallInputSchema = z.object({
  type: z.literal("function_call"),
  id: z.string().max(L.idChars).optional(),
  call_id: z.string().min(1).max(L.idChars),
  name: z.string().min(1).max(L.idChars),
  arguments: text,
  status: z.enum(["in_progress", "completed", "incomplete"]).optional(),
});

/** The result of a function call, for the model to read. */
export const responseFunctionCallOutputSchema = z.object({
  type: z.literal("function_call_output"),
  id: z.string().max(L.idChars).optional(),
  call_id: z.string().min(1).max(L.idChars),
  output: text,
  status: z.enum(["in_progress", "completed", "incomplete"]).optional(),
});

export const responseInputItemSchema = z.union([responseInputMessageSchema, responseFunctionCallInputSchema, responseFunctionCallOutputSchema]);

const functionToolSchema = z.strictObject({
  type: z.literal("function"),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "function names use letters, digits, _ and -, at most 64"),
  description: z.string().max(L.descriptionChars).nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

const toolChoiceSchema = z.union([z.enum(["none", "auto", "required"]), z.strictObject({ type: z.literal("function"), name: z.string().min(1).max(L.idChars) })]);

/** `text.format`: plain text, any JSON object, or JSON matching a schema (forwarded as the upstream's `response_format`). */
export const responseTextFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "schema names use letters, digits, _ and -, at most 64"),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().max(L.descriptionChars).optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

const metadataSchema = z
  .record(z.string().max(64), z.string().max(512))
  .refine((value) => Object.keys(value).length <= L.metadataPairs, `at most ${L.metadataPairs} keys`);

/** `POST /v1/responses`, as OpenAI documents it; fields we cannot honour anywhere are refused. */
export const responseCreateRequestSchema = z
  .strictObject({
    model: z.string().min(1).max(L.idChars),
    input: z.union([text, z.array(responseInputItemSchema).min(1).max(L.messages)]),
    instructions: text.nullable().optional(),
    max_output_tokens: z.number().int().min(1).nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    /** Not in OpenAI's Responses API; honoured where the model allows, as in chat completions. */
    stop: z.union([z.string().min(1).max(L.stopChars), z.array(z.string().min(1).max(L.stopChars)).max(4)]).nullable().optional(),
    text: z.strictObject({ format: responseTextFormatSchema.optional(), verbosity: z.enum(["low", "medium", "high"]).nullable().optional() }).nullable().optional(),
    tools: z.array(functionToolSchema).max(128).optional(),
    tool_choice: toolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    metadata: metadataSchema.nullable().optional(),
    store: z.boolean().nullable().optional(),
    background: z.boolean().nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.strictObject({ include_obfuscation: z.boolean().optional() }).nullable().optional(),
    previous_response_id: z.string().min(1).max(L.idChars).nullable().optional(),
    service_tier: z.enum(["auto", "default", "flex", "priority", "scale"]).nullable().optional(),
    truncation: z.enum(["auto", "disabled"]).nullable().optional(),
    user: z.string().max(256).optional(),
    safety_identifier: z.string().max(256).optional(),
    prompt_cache_key: z.string().max(256).optional(),
    include: z.array(z.string().max(128)).max(16).nullable().optional(),
    top_logprobs: nullOnly().optional(),
    /** Ours: where to POST signed events when the response ends (OpenAI's event format, Standard Webhooks signature). */
    webhook: webhookSpecSchema.optional().meta({
      description:
        "Ours: where to POST the response's ending as OpenAI's webhook event (`response.completed`, `response.incomplete`, `response.failed`, `response.cancelled`), signed with Standard Webhooks so `client.webhooks.unwrap()` verifies it with the key's secret (GET /v1/ai/webhooks/secret). A URL, or `{url, events}` with events among completed (completed or incomplete), failed, cancelled, expired (sent as response.failed); progress is refused. Targets as for task webhooks (WEBHOOK_ALLOWED_CIDRS, WEBHOOK_ALLOWED_PORTS).",
    }),
    ...taskDeadlineFields,
  })
  .superRefine((body, ctx) => {
    if (body.tool_choice !== undefined && body.tool_choice !== "none" && !body.tools?.length) {
      ctx.addIssue({ code: "custom", path: ["tool_choice"], message: "tool_choice needs tools" });
    }
    if (body.background && body.store === false) {
      ctx.addIssue({ code: "custom", path: ["store"], message: "background responses must be stored: store cannot be false with background: true" });
    }
  });
export type ResponseCreateRequest = z.infer<typeof responseCreateRequestSchema>;

// ---------------------------------------------------------------------------------------------------
// The response object (OpenAI's `Response`), as retrieve, create and the stream's events carry it.

export const RESPONSE_STATUSES = ["queued", "in_progress", "completed", "failed", "cancelled", "incomplete"] as const;
export type ResponseStatus = (typeof RESPONSE_STATUSES)[number];

export const responseOutputTextSchema = z.object({
  type: z.literal("output_text"),
  text: z.string(),
  annotations: z.array(z.unknown()),
  logprobs: z.array(z.unknown()),
});

export const responseOutputMessageSchema = z.object({
  id: z.string(),
  type: z.literal("message"),
  status: z.enum(["in_progress", "completed", "incomplete"]),
  role: z.literal("assistant"),
  content: z.array(responseOutputTextSchema),
});

export const responseFunctionCallSchema = z.object({
  id: z.string(),
  type: z.literal("function_call"),
  status: z.enum(["in_progress", "completed", "incomplete"]),
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
});

export const responseOutputItemSchema = z.discriminatedUnion("type", [responseOutputMessageSchema, responseFunctionCallSchema]);
export type ResponseOutputItem = z.infer<typeof responseOutputItemSchema>;

export const responseUsageSchema = z.object({
  input_tokens: z.number().int(),
  input_tokens_details: z.object({ cached_tokens: z.number().int() }),
  output_tokens: z.number().int(),
  output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
  total_tokens: z.number().int(),
});

export const responseObjectSchema = z
  .object({
    id: z.string().meta({ example: "resp_cf86cbda217c481f8dbc9fb24b7e79e0" }),
    object: z.literal("response"),
    created_at: z.number().int(),
    status: z.enum(RESPONSE_STATUSES),
    background: z.boolean(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    incomplete_details: z.object({ reason: z.string() }).nullable(),
    instructions: z.string().nullable(),
    max_output_tokens: z.number().int().nullable(),
    metadata: z.record(z.string(), z.string()),
    model: z.string(),
    output: z.array(responseOutputItemSchema),
    parallel_tool_calls: z.boolean(),
    previous_response_id: z.string().nullable(),
    service_tier: z.string(),
    store: z.boolean(),
    temperature: z.number().nullable(),
    text: z.object({ format: z.record(z.string(), z.unknown()), verbosity: z.string() }),
    max_tool_calls: z.null(),
    prompt_cache_key: z.string().nullable(),
    safety_identifier: z.string().nullable(),
    top_logprobs: z.number().int(),
    tool_choice: z.union([z.string(), z.record(z.string(), z.unknown())]),
    tools: z.array(z.record(z.string(), z.unknown())),
    top_p: z.number().nullable(),
    truncation: z.string(),
    usage: responseUsageSchema.nullable(),
    user: z.string().nullable(),
    reasoning: z.object({ effort: z.null(), summary: z.null() }),
    // Ours.
    task_id: z.string().meta({ description: "Ours: the task behind this response, for the task API and the dashboard." }),
    queue: z
      .object({ position: z.number().int().nullable(), eta_seconds: z.number().nullable() })
      .nullable()
      .optional()
      .meta({ description: "Ours, while queued: the response's place in its model's line (1 = next) and an estimate, from the queue's recent run times, of when it will be done (seconds)." }),
  })
  .meta({ id: "Response" });
export type ResponseObject = z.infer<typeof responseObjectSchema>;
