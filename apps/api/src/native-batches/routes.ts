import { isFinal, newBatchId } from "@llmq/core";
import { createNativeBatchSchema, createdNativeBatchSchema, listNativeBatchesQuerySchema, nativeBatchEnvelopeSchema, nativeBatchListSchema } from "@llmq/contract";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { encodedBodyOf } from "../http/body-parsers";
import { idempotencyClaimOf } from "../http/idempotency";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { DeclaredRouter, route } from "../http/route";
import { flexstackError, flexstackErrors, json, rateLimitedAnswers } from "../openapi/responses";
import { nativeBatchData, resultLine } from "./format";

/** Tasks read per query while streaming results. */
const PAGE = 1_000;

const batchIdParams = z.object({ batchId: z.string().meta({ description: "`batch_` + 32 hex characters." }) });

/** Native batches: `/v1/ai/batches`. */
export const nativeBatchRoutes = {
  create: route({
    method: "post",
    path: "/v1/ai/batches",
    summary: "Create a batch of text completion tasks",
    description:
      "Each request is a `POST /v1/ai/text_completion` body plus an optional `custom_id` (default its index). Every item is checked first: one invalid item (or a repeated `custom_id`) answers 400 naming `requests.<i>.<field>`, and nothing is written. At most 50,000 requests; the body limit is `BATCH_BODY_LIMIT` (default 64mb). `webhook` is the batch's: `batch.completed`, `batch.failed`, `batch.cancelled`, `batch.expired`, and `batch.progress` at each tenth (see docs/webhooks.md). The batch reserves the sum of its items' prompt estimates and `max_tokens` against the daily tokens of the caller's key and user, and settles to its real usage when it ends. `priority` is the admin's alone.",
    // Read raw and parsed off the event loop (NativeBatchParser): sizes and counts are refused before any item is looked at.
    request: { body: { content: { "application/json": createNativeBatchSchema }, parse: false } },
    responses: rateLimitedAnswers({
      200: json("The batch id and its task ids, in request order.", createdNativeBatchSchema),
      ...flexstackErrors,
      403: flexstackError("`permission_denied` (`param: priority`): only the admin sets a batch's priority."),
      409: flexstackError("`idempotency_request_in_progress`: a request with this Idempotency-Key is still being processed; see Retry-After."),
      422: flexstackError("`idempotency_key_reused`: the Idempotency-Key came with another request."),
      413: flexstackError("Body larger than `BATCH_BODY_LIMIT`."),
      429: flexstackError(
        "`rate_limit_exceeded`, `token_quota_exceeded` (the reservation would pass the key's or user's tokens for today), or `too_many_open_batches` (`MAX_OPEN_BATCHES_PER_USER`); with Retry-After.",
      ),
    }),
  }),
  list: route({
    method: "get",
    path: "/v1/ai/batches",
    summary: "Your batches of both dialects, newest first (`after` takes the last id of the previous page)",
    description:
      "Every batch of the caller, whichever dialect created it: `POST /v1/ai/batches` (`dialect: flexstack`) and the OpenAI Batch API's `POST /v1/batches`, which `npx llmq batch submit` uses (`dialect: openai`). One list, one order (created_at, then id, both descending), so `after` pages through both kinds alike.",
    request: { query: listNativeBatchesQuerySchema },
    responses: { 200: json("A page of batches.", nativeBatchListSchema), ...flexstackErrors },
  }),
  get: route({
    method: "get",
    path: "/v1/ai/batches/{batchId}",
    summary: "A batch: counts per task status, percent, timestamps",
    request: { params: batchIdParams },
    responses: { 200: json("The batch.", nativeBatchEnvelopeSchema), ...flexstackErrors },
  }),
  results: route({
    method: "get",
    path: "/v1/ai/batches/{batchId}/results",
    summary: "Results so far, as JSON lines in request order (streamed; partial while the batch runs)",
    description:
      "One line per finished task: `{custom_id, task_id, status, response, finish_reason, usage, error}`. COMPLETED lines carry `response`; FAILED, CANCELLED and EXPIRED ones `error`. Tasks still pending or running are left out.",
    request: { params: batchIdParams },
    responses: { 200: { description: "JSON lines.", content: { "application/x-ndjson": z.string() } }, ...flexstackErrors },
  }),
  cancel: route({
    method: "post",
    path: "/v1/ai/batches/{batchId}/cancel",
    summary: "Cancel a batch: queued tasks never run, running ones are stopped, finished ones are kept",
    request: { params: batchIdParams },
    responses: {
      200: json("The batch, cancelling or cancelled.", nativeBatchEnvelopeSchema),
      ...flexstackErrors,
      409: flexstackError("`batch_not_cancellable`: the batch has ended (completed, failed or expired)."),
    },
  }),
};

/** What the native batch routes use. */
export type NativeBatchDeps = Pick<AppDeps, "batchService" | "batches" | "redis" | "keys" | "batchParser" | "webhookService" | "idempotency" | "tasks">;

/**
 * Batches in the task dialect: `/v1/ai/batches`. Mounted with its own (larger) body limit; the body comes
 * in as sent (still compressed, bounded) and is decoded, parsed and checked off the event loop (NativeBatchParser).
 */
export function nativeBatchesRouter(deps: NativeBatchDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/ai/batches");
  const { batchService, batches } = deps;
  const present = async (batch: Awaited<ReturnType<typeof batchService.get>>) => nativeBatchData(batch, await batches.counts(batch.id));
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router.handle(nativeBatchRoutes.create, submissionLimit, async (_input, req, res) => {
      const { request, digest } = await deps.batchParser.parse(encodedBodyOf(req));
      const caller = principalOf(req);
      const webhook = await deps.webhookService.accept(caller, request.webhook);
      const { value, replayed } = await deps.idempotency.once(idempotencyClaimOf(req, digest), newBatchId, {
        create: (id) => batchService.createNative(caller, request, { webhook, id }),
        find: (id) => batchService.findNative(caller, id),
      });
      if (replayed) res.set("Idempotent-Replayed", "true");
      const { batch, taskIds } = value;
      res.set("Location", `/v1/ai/batches/${batch.id}`);
      res.json(dataEnvelope({ batch_id: batch.id, status: batch.status, total: batch.totalCount, task_ids: taskIds }, req, res.locals.startedAt!));
  });

  router.handle(nativeBatchRoutes.list, async ({ query }, req, res) => {
      const page = await batches.list(principalOf(req), { after: query.after, limit: query.limit });
      const data = await Promise.all(page.batches.map(present));
      res.json(dataEnvelope({ batches: data, last_id: data[data.length - 1]?.batch_id ?? null, has_more: page.hasMore }, req, res.locals.startedAt!));
  });

  router.handle(nativeBatchRoutes.get, async ({ params }, req, res) => {
    const batch = await batchService.get(principalOf(req), params.batchId);
    res.json(dataEnvelope(await present(batch), req, res.locals.startedAt!));
  });

  // Finished tasks so far, in input order, read a page at a time: never the whole batch in memory.
  router.handle(nativeBatchRoutes.results, async ({ params }, req, res) => {
    const batch = await batchService.get(principalOf(req), params.batchId);
    let gone = false;
    res.on("close", () => {
      gone = true;
    });
    res.status(200).set({ "Content-Type": "application/x-ndjson; charset=utf-8", "Cache-Control": "no-store", "X-Batch-Status": batch.status });
    res.flushHeaders();
    for (let after = -1; !gone; ) {
      const page = await deps.tasks.batchPage(batch.id, after, PAGE);
      if (page.length === 0) break;
      after = page[page.length - 1]!.batchIndex ?? Number.MAX_SAFE_INTEGER;
      const text = page
        .filter((task) => isFinal(task.status))
        .map((task) => `${resultLine(task)}\n`)
        .join("");
      if (text && !res.write(text)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
    }
    res.end();
  });

  router.handle(nativeBatchRoutes.cancel, async ({ params }, req, res) => {
    const batch = await batchService.cancel(principalOf(req), params.batchId);
    res.json(dataEnvelope(await present(batch), req, res.locals.startedAt!));
  });

  return router;
}
