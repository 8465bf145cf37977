import type { z } from "zod";
import type { adminQueuesSchema, meSchema, tokenGrantSchema } from "./flexstack/account-responses";
import type { adminUpstreamsSchema } from "./flexstack/upstream-responses";
import type { createdNativeBatchSchema, nativeBatchEnvelopeSchema, nativeBatchListSchema, nativeBatchResultLineSchema } from "./flexstack/native-batch-responses";
import type { historyQuerySchema } from "./flexstack/queries";
import type { createNativeBatchSchema, listNativeBatchesQuerySchema } from "./flexstack/native-batch-requests";
import type { textCompletionRequestSchema } from "./flexstack/requests";
import type { taskStatusEventSchema, taskTokenEventSchema } from "./events";
import type { errorEnvelopeSchema, historyRowSchema, historySchema, modelsSchema, storedMessageSchema, taskDataSchema, taskEnvelopeSchema } from "./flexstack/responses";

/**
 * The wire types clients read (the dashboard, the CLI), inferred from the schemas every test response is
 * checked against: a client cannot type a field differently from what the server sends.
 */
type DataOf<S extends z.ZodType> = z.output<S> extends { data: { data: infer T } } ? T : never;

/** A task as `GET /v1/ai/tasks/{id}` gives it (`data.data` of the envelope). */
export type TaskData = z.output<typeof taskDataSchema>;
/** `data` of a task envelope: the task and its configs. */
export type TaskEnvelope = z.output<typeof taskEnvelopeSchema>;
export type TaskEnvelopeData = TaskEnvelope["data"];
export type TaskConfigs = TaskEnvelopeData["configs"];
export type TaskMessage = z.output<typeof storedMessageSchema>;
/** A task as the history and the live task list give it. */
export type HistoryRow = z.output<typeof historyRowSchema>;
/** A task row either way: the history's, or a single task's (which lacks `queue_name` and `owner_id`). */
export type TaskRow = TaskData & Partial<Pick<HistoryRow, "queue_name" | "owner_id">>;
export type TaskUsage = TaskData["usage"];
export type HistoryPage = DataOf<typeof historySchema>;
export type ModelInfo = DataOf<typeof modelsSchema>[number];
export type QueueCounts = ModelInfo["queue"];

export type TokenGrant = z.output<typeof tokenGrantSchema>;
export type SignedInUser = TokenGrant["user"];
export type Profile = DataOf<typeof meSchema>;
export type QueueStats = DataOf<typeof adminQueuesSchema>["queues"][number];
/** One model's upstreams in `GET /v1/admin/upstreams`. */
export type ModelUpstreams = DataOf<typeof adminUpstreamsSchema>["models"][number];
export type UpstreamStatus = ModelUpstreams["upstreams"][number];

/** The data of a task stream's `status` and `token` events. */
export type TaskStatusEvent = z.output<typeof taskStatusEventSchema>;
export type TaskTokenEvent = z.output<typeof taskTokenEventSchema>;

export type NativeBatch = DataOf<typeof nativeBatchEnvelopeSchema>;
export type NativeBatchPage = DataOf<typeof nativeBatchListSchema>;
export type CreatedNativeBatchData = DataOf<typeof createdNativeBatchSchema>;
export type NativeBatchResultLine = z.output<typeof nativeBatchResultLineSchema>;
/** The query of `GET /v1/ai/batches`, as a client writes it. */
export type NativeBatchQuery = Omit<z.input<typeof listNativeBatchesQuerySchema>, "limit"> & { limit?: number };
/** The query of `GET /v1/ai/tasks` (task history), as a client writes it (dates as ISO 8601 strings). */
export type HistoryQuery = Omit<z.input<typeof historyQuerySchema>, "limit"> & { limit?: number };
/** The task dialect's error answer: `errors[0]` carries the code, message and param. */
export type ErrorEnvelope = z.output<typeof errorEnvelopeSchema>;
/** A `POST /v1/ai/text_completion` body as a client writes it (defaults left to the server). */
export type TextCompletionInput = z.input<typeof textCompletionRequestSchema>;
/** A `POST /v1/ai/batches` body as a client writes it. */
export type CreateNativeBatchInput = z.input<typeof createNativeBatchSchema>;
