import { isFinal, newBatchId } from "@llmq/core";
import { Router } from "express";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { validate } from "../http/validate";
import { nativeBatchData, resultLine } from "./format";
import { listNativeBatchesQuerySchema } from "@llmq/contract";

/** Tasks read per query while streaming results. */
const PAGE = 1_000;

/**
 * Batches in the task dialect: `/v1/ai/batches`. Mounted with its own (larger) body limit; the body comes
 * in raw (decompressed, bounded) and is parsed and checked off the event loop (NativeBatchParser).
 */
export function nativeBatchesRouter(deps: AppDeps): Router {
  const router = Router();
  const { batchService, batches } = deps;
  const present = async (batch: Awaited<ReturnType<typeof batchService.get>>) => nativeBatchData(batch, await batches.counts(batch.id));
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router
    .route("")
    .post(submissionLimit, async (req, res) => {
      // express.raw leaves anything but a JSON body unread: answered as an empty one would be.
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.from("{}");
      const { request, digest } = await deps.batchParser.parse(raw);
      const caller = principalOf(req);
      const webhook = await deps.webhookService.accept(caller, request.webhook);
      const { value, replayed } = await deps.idempotency.once(
        req,
        newBatchId,
        {
          create: (id) => batchService.createNative(caller, request, { webhook, id }),
          find: (id) => batchService.findNative(caller, id),
        },
        { bodyDigest: digest },
      );
      if (replayed) res.set("Idempotent-Replayed", "true");
      const { batch, taskIds } = value;
      res.set("Location", `/v1/ai/batches/${batch.id}`);
      res.json(dataEnvelope({ batch_id: batch.id, status: batch.status, total: batch.totalCount, task_ids: taskIds }, req, res.locals.startedAt!));
    })
    .get(async (req, res) => {
      const query = validate(listNativeBatchesQuerySchema, req.query, "query");
      const page = await batches.list(principalOf(req), { after: query.after, limit: query.limit, kind: "native" });
      const data = await Promise.all(page.batches.map(present));
      res.json(dataEnvelope({ batches: data, last_id: data[data.length - 1]?.batch_id ?? null, has_more: page.hasMore }, req, res.locals.startedAt!));
    });

  router.get("/:batchId", async (req, res) => {
    const batch = await batchService.get(principalOf(req), req.params.batchId);
    res.json(dataEnvelope(await present(batch), req, res.locals.startedAt!));
  });

  // Finished tasks so far, in input order, read a page at a time: never the whole batch in memory.
  router.get("/:batchId/results", async (req, res) => {
    const batch = await batchService.get(principalOf(req), req.params.batchId);
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

  router.post("/:batchId/cancel", async (req, res) => {
    const batch = await batchService.cancel(principalOf(req), req.params.batchId);
    res.json(dataEnvelope(await present(batch), req, res.locals.startedAt!));
  });

  return router;
}
