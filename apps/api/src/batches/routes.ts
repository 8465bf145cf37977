import { newBatchId } from "@llmq/core";
import { batchListSchema, batchSchema, createBatchSchema, listBatchesQuerySchema } from "@llmq/contract";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { idempotencyClaimOf } from "../http/idempotency";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { DeclaredRouter, route } from "../http/route";
import { json, openAIError, openAIErrors, rateLimitedAnswers } from "../openapi/responses";
import { batchObject } from "./format";

const batchIdParams = z.object({ batchId: z.string() });

/** OpenAI's Batch API: `/v1/batches`. */
export const batchRoutes = {
  create: route({
    method: "post",
    path: "/v1/batches",
    summary: "Create a batch from an uploaded JSONL file (OpenAI Batch API)",
    description:
      "The batch starts `validating`: a worker checks every line (at most 50,000 requests, each line at most `BODY_LIMIT` bytes; past either it stops reading and the batch fails with `too_many_requests` or `line_too_long`), reserves the requests' prompt estimates plus `max_tokens` against the daily tokens of the caller's key and user (over: the batch fails with `token_quota_exceeded`), then creates its tasks (lower priority than interactive calls). Counts against the submission rate limit.",
    request: { body: { content: { "application/json": createBatchSchema } } },
    responses: rateLimitedAnswers({
      200: json("The batch.", batchSchema),
      ...openAIErrors,
      400: openAIError("`invalid_request_error`, with `param` naming the field; `too_many_requests` when the file has more than 50,000 lines."),
      409: openAIError("`file_in_use`: another batch on this input file has not ended (one open batch per file); `idempotency_request_in_progress`: a request with this Idempotency-Key is still being processed."),
      422: openAIError("`idempotency_key_reused`: the Idempotency-Key came with another request."),
      413: openAIError("Body larger than the limit."),
      429: openAIError("`rate_limit_exceeded`, `token_quota_exceeded` (the day's tokens are used up), or `too_many_open_batches` (`MAX_OPEN_BATCHES_PER_USER`); with Retry-After."),
    }),
  }),
  list: route({
    method: "get",
    path: "/v1/batches",
    summary: "Your batches, newest first",
    request: { query: listBatchesQuerySchema },
    responses: { 200: json("A page of batches.", batchListSchema), ...openAIErrors },
  }),
  get: route({
    method: "get",
    path: "/v1/batches/{batchId}",
    summary: "A batch with its request counts and timestamps",
    request: { params: batchIdParams },
    responses: { 200: json("The batch.", batchSchema), ...openAIErrors },
  }),
  cancel: route({
    method: "post",
    path: "/v1/batches/{batchId}/cancel",
    summary: "Cancel a batch: queued items never run, finished ones are kept",
    request: { params: batchIdParams },
    responses: {
      200: json("The batch, cancelling or cancelled.", batchSchema),
      ...openAIErrors,
      409: openAIError("`batch_not_cancellable`: the batch has ended (completed, failed or expired)."),
    },
  }),
};

export type BatchesDeps = Pick<AppDeps, "batchService" | "batches" | "redis" | "keys" | "webhookService" | "idempotency">;

/** OpenAI's Batch API: `/v1/batches`. */
export function batchesRouter(deps: BatchesDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/batches");
  const { batchService, batches } = deps;
  const present = async (batch: Awaited<ReturnType<typeof batchService.get>>) => batchObject(batch, await batches.counts(batch.id));
  // Creating a batch counts as a submission, as `POST /v1/ai/batches` does.
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router.handle(batchRoutes.create, submissionLimit, async ({ body }, req, res) => {
      const webhook = await deps.webhookService.accept(principalOf(req), body.webhook);
      const caller = principalOf(req);
      const { value: batch, replayed } = await deps.idempotency.once(idempotencyClaimOf(req), newBatchId, {
        create: (id) => batchService.createFromFile(caller, body, { webhook, id }),
        find: (id) => deps.batches.findVisible(id, caller),
      });
      if (replayed) res.set("Idempotent-Replayed", "true");
      res.json(await present(batch));
  });

  router.handle(batchRoutes.list, async ({ query }, req, res) => {
      const page = await batches.list(principalOf(req), { after: query.after, limit: query.limit, kind: "openai" });
      const data = await Promise.all(page.batches.map(present));
      res.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: page.hasMore });
  });

  router.handle(batchRoutes.get, async ({ params }, req, res) => {
    res.json(await present(await batchService.get(principalOf(req), params.batchId)));
  });

  router.handle(batchRoutes.cancel, async ({ params }, req, res) => {
    res.json(await present(await batchService.cancel(principalOf(req), params.batchId)));
  });

  return router;
}
