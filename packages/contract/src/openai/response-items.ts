import { z } from "zod";

/**
 * The input items of a response (`GET /v1/responses/{id}/input_items`, OpenAI's list shape) and the answer
 * of `DELETE /v1/responses/{id}`.
 */

/** Query string of `GET /v1/responses/{id}/input_items`, as the SDK's `inputItems.list(id, {order, after, limit})` sends it. */
export const responseInputItemsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(["asc", "desc"]).default("desc"),
  /** Id of the last item of the previous page. */
  after: z.string().min(1).max(128).optional(),
  /** Extra output to include (OpenAI: file search results, image urls): nothing applies to text items; accepted and ignored. */
  include: z.union([z.string(), z.array(z.string())]).optional(),
  "include[]": z.union([z.string(), z.array(z.string())]).optional(),
});
export type ResponseInputItemsQuery = z.infer<typeof responseInputItemsQuerySchema>;

const itemStatus = z.enum(["in_progress", "completed", "incomplete"]);

export const responseInputMessageItemSchema = z.object({
  id: z.string(),
  type: z.literal("message"),
  role: z.enum(["user", "assistant", "system", "developer"]),
  status: itemStatus,
  content: z.array(z.object({ type: z.enum(["input_text", "output_text"]), text: z.string() })),
});

export const responseFunctionCallItemSchema = z.object({
  id: z.string(),
  type: z.literal("function_call"),
  status: itemStatus,
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
});

export const responseFunctionCallOutputItemSchema = z.object({
  id: z.string(),
  type: z.literal("function_call_output"),
  status: itemStatus,
  call_id: z.string(),
  output: z.string(),
});

export const responseInputListItemSchema = z.discriminatedUnion("type", [responseInputMessageItemSchema, responseFunctionCallItemSchema, responseFunctionCallOutputItemSchema]);
export type ResponseInputListItem = z.infer<typeof responseInputListItemSchema>;

export const responseInputItemListSchema = z
  .object({
    object: z.literal("list"),
    data: z.array(responseInputListItemSchema),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  })
  .meta({ id: "ResponseInputItemList" });
export type ResponseInputItemList = z.infer<typeof responseInputItemListSchema>;

/** `DELETE /v1/responses/{id}`: what OpenAI answers (the SDK's `responses.delete` resolves to nothing). */
export const responseDeletedSchema = z.object({ id: z.string(), object: z.literal("response"), deleted: z.literal(true) }).meta({ id: "ResponseDeleted" });
