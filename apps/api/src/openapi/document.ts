import { chatCompletionRequestSchema, completionRequestSchema, textCompletionRequestSchema } from "@llmq/core";
import { z } from "zod";
import { createDocument } from "zod-openapi";
import { createKeySchema } from "../admin/routes";
import { createBatchSchema, listBatchesQuerySchema } from "../batches/schemas";
import { batchListSchema, batchSchema } from "./batch-response-schemas";
import { listFilesQuerySchema, uploadFormSchema } from "../files/schemas";
import { deletedFileSchema, fileListSchema, fileObjectSchema } from "./files-response-schemas";
import { chatCompletionSchema, modelListSchema, modelSchema, openAIErrorSchema, textCompletionSchema } from "./openai-response-schemas";
import { historyQuerySchema, textCompletionQuerySchema } from "../flexstack/schemas";
import { createNativeBatchSchema, listNativeBatchesQuerySchema } from "../native-batches/schemas";
import { createdNativeBatchSchema, nativeBatchEnvelopeSchema, nativeBatchListSchema } from "./native-batch-response-schemas";
import {
  createdKeySchema,
  errorEnvelopeSchema,
  historySchema,
  keyListSchema,
  modelsSchema,
  revokedKeySchema,
  taskEnvelopeSchema,
} from "./response-schemas";

const json = <T extends z.ZodType>(schema: T) => ({ "application/json": { schema } });
const errors = {
  "400": { description: "Invalid request (the field is named in `errors[0].param`).", content: json(errorEnvelopeSchema) },
  "401": { description: "Missing or unknown API key.", content: json(errorEnvelopeSchema) },
  "404": { description: "No such resource visible to this key.", content: json(errorEnvelopeSchema) },
  "503": { description: "Postgres or Redis unavailable; retry after `Retry-After`.", content: json(errorEnvelopeSchema) },
};
const openAIErrors = {
  "400": { description: "`invalid_request_error`, with `param` naming the field (or one the model's provider cannot honour).", content: json(openAIErrorSchema) },
  "401": { description: "`invalid_api_key`.", content: json(openAIErrorSchema) },
  "404": { description: "`model_not_found` (the message lists the models).", content: json(openAIErrorSchema) },
  "429": { description: "`rate_limit_exceeded` (per-key limit, or the upstream's), with Retry-After.", content: json(openAIErrorSchema) },
  "502": { description: "The upstream failed after retries.", content: json(openAIErrorSchema) },
  "503": { description: "Postgres or Redis unavailable; retry after `Retry-After`.", content: json(openAIErrorSchema) },
};
const filesErrors = {
  "400": { description: "`invalid_request_error`, with `param` naming the field (`file`, `purpose`, or a query parameter).", content: json(openAIErrorSchema) },
  "401": openAIErrors["401"],
  "404": { description: "`file_not_found`: no such file visible to this key.", content: json(openAIErrorSchema) },
  "503": openAIErrors["503"],
};
const fileIdParam = { path: z.object({ fileId: z.string().meta({ description: "`file-` + 32 hex characters." }) }) };
const completionIdParam = { path: z.object({ completionId: z.string().meta({ description: "`chatcmpl-<task_id>` or `cmpl-<task_id>`." }) }) };
const preferHeader = { header: z.object({ prefer: z.string().optional().meta({ description: "`respond-async`: answer 202 at once." }) }) };
const taskIdParam = { path: z.object({ taskId: z.string().meta({ description: "The task id (32 hex characters)." }) }) };
const batchIdParam = { path: z.object({ batchId: z.string().meta({ description: "`batch_` + 32 hex characters." }) }) };
const sse = (description: string) => ({ description, content: { "text/event-stream": { schema: z.string() } } });

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
export function buildOpenApiDocument() {
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "llmq: asynchronous task queue for LLM completions",
      version: "0.1.0",
      description: "Flexstack-style task API over per-model BullMQ queues, tasks stored in Postgres.",
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths: {
      "/v1/ai/text_completion": {
        post: {
          summary: "Submit a text completion task",
          description:
            "Waits for the result (up to `wait` seconds, default 60) and answers the task envelope; `?async=true` or `Prefer: respond-async` answers 202 at once; `?stream=true` streams SSE events `status`, `token`, then `result` (the envelope).",
          requestParams: { query: textCompletionQuerySchema },
          requestBody: { content: json(textCompletionRequestSchema) },
          responses: {
            "200": { description: "The task (COMPLETED, or its current state if the wait ran out).", content: { ...json(taskEnvelopeSchema), "text/event-stream": { schema: z.string() } } },
            "202": { description: "Accepted; poll `GET /v1/ai/tasks/{taskId}`.", content: json(taskEnvelopeSchema) },
            ...errors,
            "413": { description: "Body larger than the limit.", content: json(errorEnvelopeSchema) },
          },
        },
      },
      "/v1/ai/tasks": {
        get: {
          summary: "Task history (newest first, cursor pagination)",
          requestParams: { query: historyQuerySchema },
          responses: { "200": { description: "One page of tasks.", content: json(historySchema) }, ...errors },
        },
      },
      "/v1/ai/tasks/{taskId}": {
        get: {
          summary: "A task's current state",
          requestParams: taskIdParam,
          responses: { "200": { description: "The task envelope.", content: json(taskEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/tasks/{taskId}/events": {
        get: {
          summary: "Server-Sent Events of a task, replayed from the start or after Last-Event-ID",
          requestParams: { ...taskIdParam, header: z.object({ "last-event-id": z.string().optional() }) },
          responses: { "200": sse("`status`, `token` and finally `result` events; closes after `result`."), ...errors },
        },
      },
      "/v1/ai/tasks/{taskId}/cancel": {
        post: {
          summary: "Cancel a pending or running task",
          requestParams: taskIdParam,
          responses: { "200": { description: "The task after cancellation.", content: json(taskEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/models": {
        get: { summary: "Served models with their queues and live counts", responses: { "200": { description: "Models.", content: json(modelsSchema) }, ...errors } },
      },
      "/v1/ai/batches": {
        post: {
          summary: "Create a batch of text completion tasks",
          description:
            "Each request is a `POST /v1/ai/text_completion` body plus an optional `custom_id` (default its index). Every item is checked first: one invalid item (or a repeated `custom_id`) answers 400 naming `requests.<i>.<field>`, and nothing is written. At most 50,000 requests; the body limit is `BATCH_BODY_LIMIT` (default 64mb). `webhook` is not supported yet and answers 400.",
          requestBody: { content: json(createNativeBatchSchema) },
          responses: {
            "200": { description: "The batch id and its task ids, in request order.", content: json(createdNativeBatchSchema) },
            ...errors,
            "413": { description: "Body larger than `BATCH_BODY_LIMIT`.", content: json(errorEnvelopeSchema) },
          },
        },
        get: {
          summary: "Your native batches, newest first (`after` takes the last id of the previous page)",
          requestParams: { query: listNativeBatchesQuerySchema },
          responses: { "200": { description: "A page of batches.", content: json(nativeBatchListSchema) }, ...errors },
        },
      },
      "/v1/ai/batches/{batchId}": {
        get: {
          summary: "A batch: counts per task status, percent, timestamps",
          requestParams: batchIdParam,
          responses: { "200": { description: "The batch.", content: json(nativeBatchEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/batches/{batchId}/results": {
        get: {
          summary: "Results so far, as JSON lines in request order (streamed; partial while the batch runs)",
          description:
            "One line per finished task: `{custom_id, task_id, status, response, finish_reason, usage, error}`. COMPLETED lines carry `response`; FAILED, CANCELLED and EXPIRED ones `error`. Tasks still pending or running are left out.",
          requestParams: batchIdParam,
          responses: { "200": { description: "JSON lines.", content: { "application/x-ndjson": { schema: z.string() } } }, ...errors },
        },
      },
      "/v1/ai/batches/{batchId}/cancel": {
        post: {
          summary: "Cancel a batch: queued tasks never run, running ones are stopped, finished ones are kept",
          requestParams: batchIdParam,
          responses: { "200": { description: "The batch, cancelling or cancelled.", content: json(nativeBatchEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/admin/keys": {
        post: {
          summary: "Create an API key (admin)",
          requestBody: { content: json(createKeySchema) },
          responses: { "201": { description: "The key, with its secret shown once.", content: json(createdKeySchema) }, ...errors },
        },
        get: { summary: "List API keys (admin)", responses: { "200": { description: "Keys.", content: json(keyListSchema) }, ...errors } },
      },
      "/v1/admin/keys/{keyId}": {
        delete: {
          summary: "Revoke an API key (admin)",
          requestParams: { path: z.object({ keyId: z.uuid() }) },
          responses: { "200": { description: "Revoked.", content: json(revokedKeySchema) }, ...errors },
        },
      },
      "/v1/chat/completions": {
        post: {
          summary: "Create a chat completion (OpenAI-compatible; runs as a task)",
          description:
            "Non-stream: waits for the task while the connection is open. `stream: true`: `chat.completion.chunk` SSE frames, a usage chunk with `stream_options.include_usage`, then `data: [DONE]`; disconnecting cancels the task. `Prefer: respond-async`: 202 at once, then `GET /v1/chat/completions/{id}`. The task id is in the `x-task-id` header.",
          requestParams: preferHeader,
          requestBody: { content: json(chatCompletionRequestSchema) },
          responses: {
            "200": { description: "The completion, or its chunks as `text/event-stream`.", content: { ...json(chatCompletionSchema), "text/event-stream": { schema: z.string() } } },
            "202": { description: "Accepted (Prefer: respond-async).", content: json(chatCompletionSchema) },
            ...openAIErrors,
          },
        },
      },
      "/v1/chat/completions/{completionId}": {
        get: {
          summary: "A chat completion by id, finished or as it stands (`status`)",
          requestParams: completionIdParam,
          responses: { "200": { description: "The completion.", content: json(chatCompletionSchema) }, ...openAIErrors },
        },
      },
      "/v1/completions": {
        post: {
          summary: "Create a (legacy) text completion",
          description: "`prompt` is a string or an array of strings; otherwise as chat completions.",
          requestParams: preferHeader,
          requestBody: { content: json(completionRequestSchema) },
          responses: {
            "200": { description: "The completion, or its chunks as `text/event-stream`.", content: { ...json(textCompletionSchema), "text/event-stream": { schema: z.string() } } },
            "202": { description: "Accepted (Prefer: respond-async).", content: json(textCompletionSchema) },
            ...openAIErrors,
          },
        },
      },
      "/v1/completions/{completionId}": {
        get: {
          summary: "A text completion by id, finished or as it stands (`status`)",
          requestParams: completionIdParam,
          responses: { "200": { description: "The completion.", content: json(textCompletionSchema) }, ...openAIErrors },
        },
      },
      "/v1/models": {
        get: { summary: "Models (OpenAI list shape)", responses: { "200": { description: "Models.", content: json(modelListSchema) }, ...openAIErrors } },
      },
      "/v1/models/{model}": {
        get: {
          summary: "One model (ids may contain slashes)",
          requestParams: { path: z.object({ model: z.string() }) },
          responses: { "200": { description: "The model.", content: json(modelSchema) }, ...openAIErrors },
        },
      },
      "/v1/files": {
        post: {
          summary: "Upload a file (OpenAI-compatible; multipart/form-data)",
          description:
            "`purpose` is `batch` or `user_data`. The body is read as a stream and stored in 1 MiB chunks in Postgres, up to `FILES_MAX_BYTES` (default 200 MiB); the file is listed only once wholly stored.",
          requestBody: { content: { "multipart/form-data": { schema: uploadFormSchema } } },
          responses: {
            "200": { description: "The stored file.", content: json(fileObjectSchema) },
            ...filesErrors,
            "413": { description: "The file is larger than `FILES_MAX_BYTES`; nothing is stored.", content: json(openAIErrorSchema) },
          },
        },
        get: {
          summary: "List files (newest first by default; `after` takes the last id of the previous page)",
          requestParams: { query: listFilesQuerySchema },
          responses: { "200": { description: "One page of files.", content: json(fileListSchema) }, ...filesErrors },
        },
      },
      "/v1/files/{fileId}": {
        get: {
          summary: "A file's metadata",
          requestParams: fileIdParam,
          responses: { "200": { description: "The file.", content: json(fileObjectSchema) }, ...filesErrors },
        },
        delete: {
          summary: "Delete a file and its content",
          requestParams: fileIdParam,
          responses: { "200": { description: "Deleted.", content: json(deletedFileSchema) }, ...filesErrors },
        },
      },
      "/v1/files/{fileId}/content": {
        get: {
          summary: "A file's bytes, streamed",
          requestParams: fileIdParam,
          responses: {
            "200": { description: "The file exactly as uploaded.", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
            ...filesErrors,
          },
        },
      },
      "/v1/batches": {
        post: {
          summary: "Create a batch from an uploaded JSONL file (OpenAI Batch API)",
          description: "The batch starts `validating`: a worker checks every line, then creates its tasks (lower priority than interactive calls).",
          requestBody: { content: json(createBatchSchema) },
          responses: { "200": { description: "The batch.", content: json(batchSchema) }, ...openAIErrors },
        },
        get: {
          summary: "Your batches, newest first",
          requestParams: { query: listBatchesQuerySchema },
          responses: { "200": { description: "A page of batches.", content: json(batchListSchema) }, ...openAIErrors },
        },
      },
      "/v1/batches/{batchId}": {
        get: {
          summary: "A batch with its request counts and timestamps",
          requestParams: { path: z.object({ batchId: z.string() }) },
          responses: { "200": { description: "The batch.", content: json(batchSchema) }, ...openAIErrors },
        },
      },
      "/v1/batches/{batchId}/cancel": {
        post: {
          summary: "Cancel a batch: queued items never run, finished ones are kept",
          requestParams: { path: z.object({ batchId: z.string() }) },
          responses: { "200": { description: "The batch, cancelling or cancelled.", content: json(batchSchema) }, ...openAIErrors },
        },
      },
      "/healthz": { get: { summary: "Liveness", security: [], responses: { "200": { description: "Process up." } } } },
      "/readyz": { get: { summary: "Readiness: Postgres and Redis reachable", security: [], responses: { "200": { description: "Ready." }, "503": { description: "A dependency is down." } } } },
      "/openapi.json": { get: { summary: "This document", security: [], responses: { "200": { description: "OpenAPI 3.1." } } } },
      "/metrics": {
        get: {
          summary: "Prometheus metrics of this API process",
          description:
            "Prometheus text format, no key (restrict it at the network edge): tasks by model and status, queue depth by state, HTTP latency by route pattern, event-loop lag and process metrics. Queue wait, time to first token, duration and provider errors are observed by the workers, each serving its own /metrics on WORKER_METRICS_PORT.",
          security: [],
          responses: { "200": { description: "Metrics in the Prometheus text format.", content: { "text/plain": { schema: z.string() } } } },
        },
      },
    },
  });
}
