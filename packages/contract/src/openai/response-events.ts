import { z } from "zod";
import { queryBooleanSchema } from "../shared/query-boolean";
import { responseObjectSchema, responseOutputItemSchema, responseOutputTextSchema } from "./responses-api";

/**
 * OpenAI's Responses streaming events (`POST /v1/responses` with `stream: true`, `GET /v1/responses/{id}?stream=true`),
 * field for field as OpenAI sends them: SSE frames `event: <type>` + `data: <the event>`, each with a
 * `sequence_number` (0, 1, 2, ...), no `[DONE]`. A cancelled response ends with `response.incomplete`
 * whose response has status `cancelled` (OpenAI's stream has no event of its own for it, and the SDK's
 * `responses.stream()` helper refuses any lifecycle event it does not know).
 */

const sequence = { sequence_number: z.number().int().min(0) };
const lifecycle = <T extends string>(type: T) => z.object({ type: z.literal(type), ...sequence, response: responseObjectSchema });
const textIndexes = { item_id: z.string(), output_index: z.number().int().min(0), content_index: z.number().int().min(0) };

export const responseCreatedEventSchema = lifecycle("response.created").meta({ id: "ResponseCreatedEvent" });
export const responseQueuedEventSchema = lifecycle("response.queued").meta({ id: "ResponseQueuedEvent" });
export const responseInProgressEventSchema = lifecycle("response.in_progress").meta({ id: "ResponseInProgressEvent" });
export const responseCompletedEventSchema = lifecycle("response.completed").meta({ id: "ResponseCompletedEvent" });
export const responseFailedEventSchema = lifecycle("response.failed").meta({ id: "ResponseFailedEvent" });
export const responseIncompleteEventSchema = lifecycle("response.incomplete").meta({
  id: "ResponseIncompleteEvent",
  description: "The response ended unfinished: `incomplete` (its token limit), or `cancelled` (its response's status says which).",
});

/** An output item as it is announced: in progress, no content or arguments yet. */
export const responseOutputItemAddedEventSchema = z
  .object({ type: z.literal("response.output_item.added"), ...sequence, output_index: z.number().int().min(0), item: responseOutputItemSchema })
  .meta({ id: "ResponseOutputItemAddedEvent" });
export const responseOutputItemDoneEventSchema = z
  .object({ type: z.literal("response.output_item.done"), ...sequence, output_index: z.number().int().min(0), item: responseOutputItemSchema })
  .meta({ id: "ResponseOutputItemDoneEvent" });

export const responseContentPartAddedEventSchema = z
  .object({ type: z.literal("response.content_part.added"), ...sequence, ...textIndexes, part: responseOutputTextSchema })
  .meta({ id: "ResponseContentPartAddedEvent" });
export const responseContentPartDoneEventSchema = z
  .object({ type: z.literal("response.content_part.done"), ...sequence, ...textIndexes, part: responseOutputTextSchema })
  .meta({ id: "ResponseContentPartDoneEvent" });

const obfuscation = z.string().optional().meta({ description: "Padding of random length (only when asked: `stream_options.include_obfuscation` or `include_obfuscation=true`)." });

export const responseOutputTextDeltaEventSchema = z
  .object({ type: z.literal("response.output_text.delta"), ...sequence, ...textIndexes, delta: z.string(), logprobs: z.array(z.unknown()), obfuscation })
  .meta({ id: "ResponseTextDeltaEvent" });
export const responseOutputTextDoneEventSchema = z
  .object({ type: z.literal("response.output_text.done"), ...sequence, ...textIndexes, text: z.string(), logprobs: z.array(z.unknown()) })
  .meta({ id: "ResponseTextDoneEvent" });

export const responseFunctionCallArgumentsDeltaEventSchema = z
  .object({ type: z.literal("response.function_call_arguments.delta"), ...sequence, item_id: z.string(), output_index: z.number().int().min(0), delta: z.string(), obfuscation })
  .meta({ id: "ResponseFunctionCallArgumentsDeltaEvent" });
export const responseFunctionCallArgumentsDoneEventSchema = z
  .object({ type: z.literal("response.function_call_arguments.done"), ...sequence, item_id: z.string(), output_index: z.number().int().min(0), arguments: z.string() })
  .meta({ id: "ResponseFunctionCallArgumentsDoneEvent" });

/**
 * A live stream that cannot go on (`stream_interrupted`: the response is being retried after output was
 * sent; read it again from sequence 0). Its sequence number follows the last one sent.
 */
export const responseErrorEventSchema = z
  .object({ type: z.literal("error"), ...sequence, code: z.string().nullable(), message: z.string(), param: z.string().nullable() })
  .meta({ id: "ResponseErrorEvent" });

export const responseStreamEventSchema = z.discriminatedUnion("type", [
  responseCreatedEventSchema,
  responseQueuedEventSchema,
  responseInProgressEventSchema,
  responseOutputItemAddedEventSchema,
  responseContentPartAddedEventSchema,
  responseOutputTextDeltaEventSchema,
  responseFunctionCallArgumentsDeltaEventSchema,
  responseOutputTextDoneEventSchema,
  responseContentPartDoneEventSchema,
  responseFunctionCallArgumentsDoneEventSchema,
  responseOutputItemDoneEventSchema,
  responseCompletedEventSchema,
  responseFailedEventSchema,
  responseIncompleteEventSchema,
  responseErrorEventSchema,
]);
export type ResponseStreamEvent = z.infer<typeof responseStreamEventSchema>;
/** An event as the sequencer makes it, before it is numbered. */
export type UnnumberedResponseEvent = ResponseStreamEvent extends infer E ? (E extends ResponseStreamEvent ? Omit<E, "sequence_number"> : never) : never;

/** Each SSE event name of a Responses stream and the schema of its data (`event:` is the event's `type`). */
export const responseStreamEvents: Record<string, z.ZodType> = Object.fromEntries(responseStreamEventSchema.options.map((schema) => [schema.shape.type.value, schema]));

/** Query string of `GET /v1/responses/{id}`: `stream=true` answers the response's events (see responseStreamEvents). */
export const responseRetrieveQuerySchema = z.object({
  stream: queryBooleanSchema,
  starting_after: z
    .string()
    .regex(/^\d{1,15}$/, "must be a sequence number: a whole number, 0 or more")
    .transform(Number)
    .optional()
    .meta({ description: "With `stream=true`: send only the events after this sequence number (the stream is kept whole, from 0, as long as the response is)." }),
  include_obfuscation: queryBooleanSchema,
  include: z.union([z.string(), z.array(z.string())]).optional().meta({ description: "Accepted for OpenAI's SDKs; nothing more to include here." }),
});
