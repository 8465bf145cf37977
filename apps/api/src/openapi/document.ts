import { chatCompletionRequestSchema, completionRequestSchema, textCompletionRequestSchema } from "@llmq/core";
import { z } from "zod";
import { createDocument } from "zod-openapi";
import { createKeySchema, updateKeySchema } from "../admin/routes";
import { createUserSchema, updateUserSchema } from "../admin/users-routes";
import { loginSchema, refreshSchema } from "../auth/schemas";
import {
  adminQueuesSchema,
  adminUserListSchema,
  adminUserSchema,
  deletedUserSchema,
  loggedOutSchema,
  meSchema,
  queuePausedSchema,
  tokenGrantSchema,
} from "./account-response-schemas";
import { createBatchSchema, listBatchesQuerySchema } from "../batches/schemas";
import { batchListSchema, batchSchema } from "./batch-response-schemas";
import { listFilesQuerySchema, uploadFormSchema } from "../files/schemas";
import { deletedFileSchema, fileListSchema, fileObjectSchema } from "./files-response-schemas";
import { chatCompletionSchema, modelListSchema, modelSchema, openAIErrorSchema, textCompletionSchema } from "./openai-response-schemas";
import { historyQuerySchema, taskUpdatesQuerySchema, textCompletionQuerySchema } from "../flexstack/schemas";
import { createNativeBatchSchema, listNativeBatchesQuerySchema } from "../native-batches/schemas";
import { deliveryEnvelopeSchema, deliveryListSchema, listDeliveriesQuerySchema, secretEnvelopeSchema } from "../webhooks/schemas";
import { createdNativeBatchSchema, nativeBatchEnvelopeSchema, nativeBatchListSchema } from "./native-batch-response-schemas";
import {
  createdKeySchema,
  errorEnvelopeSchema,
  historySchema,
  keyListSchema,
  keyLimitsResponseSchema,
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
/** Routes that hold a connection open (a stream, or a synchronous wait): their slot may be refused. */
const streamLimits = {
  "429": {
    description: "`too_many_open_streams`: the key (or its user, over all its keys and sessions) already holds its `max_open_streams` open streams and synchronous waits, over every API process; the message says how many and the limit. Nothing was written. Retry-After: 1.",
    content: json(errorEnvelopeSchema),
  },
  "503": {
    description: "Postgres or Redis unavailable, or `too_many_open_streams_here`: this API process holds `MAX_OPEN_STREAMS_PER_PROCESS` open streams and waits. Retry after `Retry-After`.",
    content: json(errorEnvelopeSchema),
  },
};
const openAIStreamLimits = {
  "429": {
    description: "`rate_limit_exceeded` (per-key limit, or the upstream's), or `too_many_open_streams` (a stream or a non-stream wait past the key's or user's `max_open_streams`; nothing was written), with Retry-After.",
    content: json(openAIErrorSchema),
  },
  "503": {
    description: "Postgres or Redis unavailable, or `too_many_open_streams_here` (this API process holds `MAX_OPEN_STREAMS_PER_PROCESS` open streams and waits); retry after `Retry-After`.",
    content: json(openAIErrorSchema),
  },
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
/** What ends any stream early (openSse): the last event names the reason in the route's dialect. */
const STREAM_END =
  " When the stream's credential stops granting it, a last `event: error` (its data the error envelope) ends it: `errors[0].code` is `api_key_revoked`, `account_deleted`, `admin_role_revoked` (a stream of other owners' tasks, and the caller is no longer an admin) or `access_token_expired` (refresh the token and reconnect, with Last-Event-ID where events have ids).";
const sse = (description: string) => ({ description: description + STREAM_END, content: { "text/event-stream": { schema: z.string() } } });

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
            "Waits for the result (up to `wait` seconds, default 60) and answers the task envelope; `?async=true` or `Prefer: respond-async` answers 202 at once; `?stream=true` streams SSE events `status`, `token`, then `result` (the envelope); a stream whose credential stops granting it ends with `event: error` (see `GET /v1/ai/tasks/{taskId}/events`). A waited answer whose task finished carries `x-llmq-overhead-ms`: its time in the service outside the upstream call.",
          requestParams: { query: textCompletionQuerySchema },
          requestBody: { content: json(textCompletionRequestSchema) },
          responses: {
            "200": { description: "The task (COMPLETED, or its current state if the wait ran out).", content: { ...json(taskEnvelopeSchema), "text/event-stream": { schema: z.string() } } },
            "202": { description: "Accepted; poll `GET /v1/ai/tasks/{taskId}`.", content: json(taskEnvelopeSchema) },
            ...errors,
            ...streamLimits,
            "413": { description: "Body larger than the limit.", content: json(errorEnvelopeSchema) },
          },
        },
      },
      "/v1/ai/tasks": {
        get: {
          summary: "Task history (newest first, cursor pagination)",
          description: "`user_id` narrows the admin's view to one user; anyone else only ever sees their own tasks (another user's id gives an empty page).",
          requestParams: { query: historyQuerySchema },
          responses: { "200": { description: "One page of tasks.", content: json(historySchema) }, ...errors },
        },
      },
      "/v1/ai/tasks/updates": {
        get: {
          summary: "Live task list: Server-Sent Events of the tasks the caller may see",
          description:
            "One `event: task` per change, its `data` a history row (as in `GET /v1/ai/tasks`, with `owner_id`): when a task is created, starts, makes progress (about once a second at most) or ends. Changes are gathered for about 250 ms. The admin sees every task (or one user's with `user_id`); anyone else their own. Comment heartbeats every 15 s; the stream stays open. Nothing is replayed: load the list with `GET /v1/ai/tasks`, then merge the events by `task_id`.",
          requestParams: { query: taskUpdatesQuerySchema },
          responses: { "200": sse("`task` events, each a task row."), ...errors, ...streamLimits },
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
          responses: { "200": sse("`status`, `token` and finally `result` events; closes after `result`."), ...errors, ...streamLimits },
        },
      },
      "/v1/ai/tasks/{taskId}/cancel": {
        post: {
          summary: "Cancel a pending or running task",
          requestParams: taskIdParam,
          responses: { "200": { description: "The task after cancellation.", content: json(taskEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/tasks/{taskId}/retry": {
        post: {
          summary: "Run a finished task again, as a new task",
          description:
            "Creates a NEW task with the same owner, model, messages and configs (the old task is untouched) and answers its envelope at once, like `?async=true`. Only COMPLETED, FAILED, CANCELLED or EXPIRED tasks: others answer 409 `task_not_final`. Counts against the rate limit.",
          requestParams: taskIdParam,
          responses: {
            "201": { description: "The new task (PENDING); `Location` points to it.", content: json(taskEnvelopeSchema) },
            ...errors,
            "409": { description: "`task_not_final`.", content: json(errorEnvelopeSchema) },
          },
        },
      },
      "/v1/ai/models": {
        get: { summary: "Served models with their queues and live counts", responses: { "200": { description: "Models.", content: json(modelsSchema) }, ...errors } },
      },
      "/v1/ai/batches": {
        post: {
          summary: "Create a batch of text completion tasks",
          description:
            "Each request is a `POST /v1/ai/text_completion` body plus an optional `custom_id` (default its index). Every item is checked first: one invalid item (or a repeated `custom_id`) answers 400 naming `requests.<i>.<field>`, and nothing is written. At most 50,000 requests; the body limit is `BATCH_BODY_LIMIT` (default 64mb). `webhook` is the batch's: `batch.completed`, `batch.failed`, `batch.cancelled`, `batch.expired`, and `batch.progress` at each tenth (see docs/webhooks.md). The batch reserves the sum of its items' prompt estimates and `max_tokens` against the daily tokens of the caller's key and user, and settles to its real usage when it ends. `priority` is the admin's alone.",
          requestBody: { content: json(createNativeBatchSchema) },
          responses: {
            "200": { description: "The batch id and its task ids, in request order.", content: json(createdNativeBatchSchema) },
            ...errors,
            "403": { description: "`permission_denied` (`param: priority`): only the admin sets a batch's priority.", content: json(errorEnvelopeSchema) },
            "413": { description: "Body larger than `BATCH_BODY_LIMIT`.", content: json(errorEnvelopeSchema) },
            "429": {
              description: "`rate_limit_exceeded`, `token_quota_exceeded` (the reservation would pass the key's or user's tokens for today), or `too_many_open_batches` (`MAX_OPEN_BATCHES_PER_USER`); with Retry-After.",
              content: json(errorEnvelopeSchema),
            },
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
      "/v1/ai/webhooks/secret": {
        get: {
          summary: "The signing secret of your webhooks (Standard Webhooks `whsec_...`), one per API key",
          responses: { "200": { description: "The secret.", content: json(secretEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/webhooks/secret/rotate": {
        post: {
          summary: "Replace the signing secret; attempts from now on are signed with the new one",
          responses: { "200": { description: "The new secret.", content: json(secretEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/webhooks/deliveries": {
        get: {
          summary: "Webhook deliveries of your tasks and batches, newest first, with every attempt",
          requestParams: { query: listDeliveriesQuerySchema },
          responses: { "200": { description: "A page of deliveries.", content: json(deliveryListSchema) }, ...errors },
        },
      },
      "/v1/ai/webhooks/deliveries/{deliveryId}": {
        get: {
          summary: "One delivery: its payload, status, and each attempt's status code, error and answer",
          requestParams: { path: z.object({ deliveryId: z.string().meta({ description: "The `webhook-id`, e.g. `msg_<task_id>_completed`." }) }) },
          responses: { "200": { description: "The delivery.", content: json(deliveryEnvelopeSchema) }, ...errors },
        },
      },
      "/v1/ai/webhooks/deliveries/{deliveryId}/redeliver": {
        post: {
          summary: "Send a delivery that succeeded or gave up once more, now (same `webhook-id`)",
          requestParams: { path: z.object({ deliveryId: z.string() }) },
          responses: { "200": { description: "The delivery, pending again.", content: json(deliveryEnvelopeSchema) }, ...errors },
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
        patch: {
          summary: "Set a key's own limits (admin): submissions per minute, concurrent tasks, tokens per day; and its webhook grant",
          description:
            "`webhooks.allow_private_targets: true` lets this key's webhooks target the private ranges the operator allows with WEBHOOK_ALLOWED_CIDRS (checked at submission and at every delivery attempt); other keys, and sessions of non-admin users, get 400 `webhook_target_refused`.",
          requestParams: { path: z.object({ keyId: z.uuid() }) },
          requestBody: { content: json(updateKeySchema) },
          responses: { "200": { description: "The key and its limits.", content: json(keyLimitsResponseSchema) }, ...errors },
        },
        delete: {
          summary: "Revoke an API key (admin)",
          requestParams: { path: z.object({ keyId: z.uuid() }) },
          responses: { "200": { description: "Revoked.", content: json(revokedKeySchema) }, ...errors },
        },
      },
      "/v1/admin/users": {
        post: {
          summary: "Create a user who signs in with email and password (admin)",
          description: "The password is stored as an argon2id hash and never shown. Give the user API keys with `POST /v1/admin/keys {name, user_id}`.",
          requestBody: { content: json(createUserSchema) },
          responses: {
            "201": { description: "The user.", content: json(adminUserSchema) },
            ...errors,
            "409": { description: "`email_taken`.", content: json(errorEnvelopeSchema) },
          },
        },
        get: { summary: "List users (admin)", responses: { "200": { description: "Users, oldest first, with their own and their effective limits.", content: json(adminUserListSchema) }, ...errors } },
      },
      "/v1/admin/users/{userId}": {
        patch: {
          summary: "Change a user (admin): promote or demote, and set its own limits over all its keys and sessions",
          description:
            "`is_admin`: takes effect on the user's next request; a demoted admin's open streams of other owners' tasks end at once, on every API process. The operator's account (the admin key's) cannot be demoted. `limits`: every task counts against its user, and against its key when it came with one: a request must pass both. A user's limit left null is the sum of its live keys' limits (any unlimited key makes it unlimited; a user without a key gets the deployment default); 0 is unlimited. Applies from the user's next request.",
          requestParams: { path: z.object({ userId: z.uuid() }) },
          requestBody: { content: json(updateUserSchema) },
          responses: {
            "200": { description: "The user, with its own and its effective limits.", content: json(adminUserSchema) },
            ...errors,
            "409": { description: "`admin_user_protected`: the operator's account.", content: json(errorEnvelopeSchema) },
          },
        },
        delete: {
          summary: "Delete a user with their keys, sessions, tasks, batches, files and webhook deliveries (admin)",
          description:
            "Their keys and access tokens are refused from the next request, and their open streams end at once on every API process. The operator's account (the admin key's) cannot be deleted.",
          requestParams: { path: z.object({ userId: z.uuid() }) },
          responses: {
            "200": { description: "Deleted.", content: json(deletedUserSchema) },
            ...errors,
            "409": { description: "`admin_user_protected`: the operator's account.", content: json(errorEnvelopeSchema) },
          },
        },
      },
      "/v1/admin/queues": {
        get: {
          summary: "Every model's queue: job counts, paused, throughput and latency over the last hour (admin)",
          description:
            "Latency is `completed_at - created_at` of the COMPLETED tasks finished in the window (p50/p95 with `percentile_cont`); `failed` counts FAILED tasks. `per_minute` holds 60 buckets, oldest first.",
          responses: { "200": { description: "Queues.", content: json(adminQueuesSchema) }, ...errors },
        },
      },
      "/v1/admin/queues/{model}/pause": {
        post: {
          summary: "Pause a model's queue (admin): workers take no new job; its jobs stay waiting",
          requestParams: { path: z.object({ model: z.string().meta({ description: "A model id of `GET /v1/ai/models`." }) }) },
          responses: { "200": { description: "Paused.", content: json(queuePausedSchema) }, ...errors },
        },
      },
      "/v1/admin/queues/{model}/resume": {
        post: {
          summary: "Resume a paused queue (admin)",
          requestParams: { path: z.object({ model: z.string().meta({ description: "A model id of `GET /v1/ai/models`." }) }) },
          responses: { "200": { description: "Resumed.", content: json(queuePausedSchema) }, ...errors },
        },
      },
      "/v1/auth/login": {
        post: {
          summary: "Sign in with email and password",
          description: "Answers OAuth 2's token response (no envelope). A wrong email and a wrong password get the same 401 `invalid_credentials`.",
          security: [],
          requestBody: { content: json(loginSchema) },
          responses: {
            "200": { description: "An access token and a refresh token.", content: json(tokenGrantSchema) },
            "400": errors["400"],
            "401": { description: "`invalid_credentials`.", content: json(errorEnvelopeSchema) },
            "429": { description: "`too_many_sign_in_attempts`: `LOGIN_RATE_LIMIT_PER_MINUTE` failures for this email from this address, or `LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE` from all addresses, this minute; no password was checked. See Retry-After.", content: json(errorEnvelopeSchema) },
            "503": errors["503"],
          },
        },
      },
      "/v1/auth/refresh": {
        post: {
          summary: "Trade a refresh token for a new access token and a new refresh token",
          description: "The refresh token rotates: the one sent is used up. Sending a used one again answers `refresh_token_reused` and revokes every token of its session.",
          security: [],
          requestBody: { content: json(refreshSchema) },
          responses: {
            "200": { description: "A new pair.", content: json(tokenGrantSchema) },
            "400": errors["400"],
            "401": { description: "`invalid_refresh_token` (unknown, expired or revoked) or `refresh_token_reused`.", content: json(errorEnvelopeSchema) },
            "503": errors["503"],
          },
        },
      },
      "/v1/auth/logout": {
        post: {
          summary: "Sign out: revoke the session of this refresh token (idempotent)",
          security: [],
          requestBody: { content: json(refreshSchema) },
          responses: { "200": { description: "Signed out.", content: json(loggedOutSchema) }, "400": errors["400"], "503": errors["503"] },
        },
      },
      "/v1/users/me": {
        get: {
          summary: "The caller's account and usage totals (tasks, tokens, per status and per model)",
          responses: { "200": { description: "The account.", content: json(meSchema) }, ...errors },
        },
      },
      "/v1/chat/completions": {
        post: {
          summary: "Create a chat completion (OpenAI-compatible; runs as a task)",
          description:
            "Non-stream: waits for the task while the connection is open. `stream: true`: `chat.completion.chunk` SSE frames, a usage chunk with `stream_options.include_usage`, then `data: [DONE]`; disconnecting cancels the task, and so does a revoked key or deleted account, which ends the stream with a `data: {\"error\": ...}` frame (`api_key_revoked`, `account_deleted`); an expired access token ends it with `access_token_expired` and the task runs on, to be fetched with the GET below. `Prefer: respond-async`: 202 at once, then `GET /v1/chat/completions/{id}`. The task id is in the `x-task-id` header; a non-stream answer with its result carries `x-llmq-overhead-ms`, the time spent in the service outside the upstream call (ms).",
          requestParams: preferHeader,
          requestBody: { content: json(chatCompletionRequestSchema) },
          responses: {
            "200": { description: "The completion, or its chunks as `text/event-stream`.", content: { ...json(chatCompletionSchema), "text/event-stream": { schema: z.string() } } },
            "202": { description: "Accepted (Prefer: respond-async).", content: json(chatCompletionSchema) },
            ...openAIErrors,
            ...openAIStreamLimits,
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
            ...openAIStreamLimits,
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
            "413": {
              description:
                "`payload_too_large`: the file is larger than `FILES_MAX_BYTES`; `file_storage_quota_exceeded`: it would take the user's stored bytes past `FILES_MAX_TOTAL_BYTES_PER_USER` (refused as its bytes pass); `file_count_quota_exceeded`: the user has `FILES_MAX_PER_USER` files. Nothing is stored.",
              content: json(openAIErrorSchema),
            },
            "429": { description: "`rate_limit_exceeded`: more than `FILES_UPLOADS_PER_MINUTE` uploads by this user this minute; `Retry-After` says when to retry.", content: json(openAIErrorSchema) },
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
          description:
            "The batch starts `validating`: a worker checks every line (at most 50,000 requests, each line at most `BODY_LIMIT` bytes; past either it stops reading and the batch fails with `too_many_requests` or `line_too_long`), reserves the requests' prompt estimates plus `max_tokens` against the daily tokens of the caller's key and user (over: the batch fails with `token_quota_exceeded`), then creates its tasks (lower priority than interactive calls). Counts against the submission rate limit.",
          requestBody: { content: json(createBatchSchema) },
          responses: {
            "200": { description: "The batch.", content: json(batchSchema) },
            ...openAIErrors,
            "400": { description: "`invalid_request_error`, with `param` naming the field; `too_many_requests` when the file has more than 50,000 lines.", content: json(openAIErrorSchema) },
            "409": { description: "`file_in_use`: another batch on this input file has not ended (one open batch per file).", content: json(openAIErrorSchema) },
            "429": { description: "`rate_limit_exceeded`, `token_quota_exceeded` (the day's tokens are used up), or `too_many_open_batches` (`MAX_OPEN_BATCHES_PER_USER`); with Retry-After.", content: json(openAIErrorSchema) },
          },
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
            "Prometheus text format, for `Authorization: Bearer <METRICS_TOKEN>` or the admin key: tasks by model and status (counted at most every 15 s), queue depth by state, HTTP latency by route pattern and method (unusual methods as `other`), event-loop lag and process metrics. Queue wait, time to first token, duration and provider errors are observed by the workers, each serving its own /metrics on WORKER_METRICS_PORT.",
          responses: {
            "200": { description: "Metrics in the Prometheus text format.", content: { "text/plain": { schema: z.string() } } },
            "401": { description: "No bearer, or neither METRICS_TOKEN nor the admin key.", content: json(errorEnvelopeSchema) },
          },
        },
      },
    },
  });
}
