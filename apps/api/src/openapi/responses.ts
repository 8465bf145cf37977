import { errorEnvelopeSchema, openAIErrorSchema } from "@llmq/contract";
import { z } from "zod";
import type { ResponseDeclaration } from "../http/route";

/** A JSON answer with its schema. */
export const json = (description: string, schema: z.ZodType): ResponseDeclaration => ({ description, content: { "application/json": schema } });

const flexstackError = (description: string) => json(description, errorEnvelopeSchema);
const openAIError = (description: string) => json(description, openAIErrorSchema);

/** What any authenticated Flexstack-dialect route (each adds 403, 409, 413, 429 where it may give them) (`/v1/ai`, `/v1/admin`, `/v1/users`) may answer besides its own. */
export const flexstackErrors = {
  400: flexstackError("Invalid request (the field is named in `errors[0].param`)."),
  401: flexstackError("Missing or unknown API key."),
  404: flexstackError("No such resource visible to this key."),
  503: flexstackError("Postgres or Redis unavailable; retry after `Retry-After`."),
} satisfies Record<number, ResponseDeclaration>;
export { flexstackError, openAIError };

/** The admin's routes: anyone else gets 403. */
export const adminErrors = { ...flexstackErrors, 403: flexstackError("`permission_denied`: the route is reserved to the admin.") } satisfies Record<number, ResponseDeclaration>;

/** What any OpenAI-dialect route may answer besides its own. */
export const openAIErrors = {
  400: openAIError("`invalid_request_error`, with `param` naming the field (or one the model's provider cannot honour)."),
  401: openAIError("`invalid_api_key`."),
  404: openAIError("`model_not_found` (the message lists the models), or no such object visible to this key."),
  429: openAIError("`rate_limit_exceeded` (per-key limit, or the upstream's), with Retry-After."),
  502: openAIError("The upstream failed after retries."),
  503: openAIError("Postgres or Redis unavailable; retry after `Retry-After`."),
} satisfies Record<number, ResponseDeclaration>;

/** Routes that hold a connection open (a stream, or a synchronous wait): their slot may be refused. */
export const streamLimits = {
  429: flexstackError(
    "`too_many_open_streams`: the key (or its user, over all its keys and sessions) already holds its `max_open_streams` open streams and synchronous waits, over every API process; the message says how many and the limit. Nothing was written. Retry-After: 1.",
  ),
  503: flexstackError(
    "Postgres or Redis unavailable, or `too_many_open_streams_here`: this API process holds `MAX_OPEN_STREAMS_PER_PROCESS` open streams and waits. Retry after `Retry-After`.",
  ),
} satisfies Record<number, ResponseDeclaration>;
export const openAIStreamLimits = {
  429: openAIError(
    "`rate_limit_exceeded` (per-key limit, or the upstream's), or `too_many_open_streams` (a stream or a non-stream wait past the key's or user's `max_open_streams`; nothing was written), with Retry-After.",
  ),
  503: openAIError(
    "Postgres or Redis unavailable, or `too_many_open_streams_here` (this API process holds `MAX_OPEN_STREAMS_PER_PROCESS` open streams and waits); retry after `Retry-After`.",
  ),
} satisfies Record<number, ResponseDeclaration>;

/** What ends any stream early (openSse): the last event names the reason in the route's dialect. */
const STREAM_END =
  " When the stream's credential stops granting it, a last `event: error` (its data the error envelope) ends it: `errors[0].code` is `api_key_revoked`, `account_deleted`, `admin_role_revoked` (a stream of other owners' tasks, and the caller is no longer an admin) or `access_token_expired` (refresh the token and reconnect, with Last-Event-ID where events have ids).";

/** A Server-Sent Events answer: each event's data (`message`: unnamed `data:` frames) has its schema in the contract. */
export const sse = (description: string, events: Record<string, z.ZodType>): ResponseDeclaration => ({
  description: description + STREAM_END,
  content: { "text/event-stream": z.string() },
  events,
});

/** What http/rate-limit.ts sets on a rate-limited route's answers (one GCRA counter per key and per user). */
const rateLimitHeaders = z.object({
  "X-RateLimit-Limit": z.int().optional().meta({ description: "Requests per minute of the counter closest to running out (the key's or its user's); absent when no limit applies." }),
  "X-RateLimit-Remaining": z
    .int()
    .optional()
    .meta({ description: "Requests that would pass now. The allowance refills evenly, one request each 60/limit seconds, after a burst of the limit: there is no reset at a calendar minute." }),
  "X-RateLimit-Reset": z.int().optional().meta({ description: "Seconds until that counter's whole allowance is back." }),
});
const retryAfterHeader = z.object({ "Retry-After": z.int().meta({ description: "Seconds until a request would pass (for a rate limit: when the next one is allowed)." }) });

/** `x-llmq-overhead-ms` on a completion answered with its finished task (observability/overhead.ts). */
const overheadHeader = z.object({
  "x-llmq-overhead-ms": z
    .number()
    .optional()
    .meta({ description: "Milliseconds the request spent in the service outside its task's upstream call (one decimal); only on an answer whose task finished. Also `llmq_overhead_seconds` in /metrics." }),
});

const withHeaders = (answer: ResponseDeclaration, headers: z.ZodObject): ResponseDeclaration => ({ ...answer, headers: answer.headers ? answer.headers.extend(headers.shape) : headers });

/** A rate-limited route's answers: X-RateLimit-* on its 2xx and 429 answers, Retry-After on its 429. */
export function rateLimitedAnswers<T extends Record<number, ResponseDeclaration>>(responses: T): T {
  return Object.fromEntries(
    Object.entries(responses).map(([status, answer]: [string, ResponseDeclaration]) => {
      if (status === "429") return [status, withHeaders(withHeaders(answer, rateLimitHeaders), retryAfterHeader)];
      return [status, Number(status) < 300 ? withHeaders(answer, rateLimitHeaders) : answer];
    }),
  ) as T;
}

/** A completion answered once its task is final carries x-llmq-overhead-ms. */
export const withOverhead = (answer: ResponseDeclaration): ResponseDeclaration => withHeaders(answer, overheadHeader);
