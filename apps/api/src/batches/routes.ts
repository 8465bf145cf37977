import { newBatchId } from "@llmq/core";
import { Router } from "express";
import type { AppDeps } from "../deps";
import { principalOf } from "../http/principal";
import { rateLimit } from "../http/rate-limit";
import { validate } from "../http/validate";
import { batchObject } from "./format";
import { createBatchSchema, listBatchesQuerySchema } from "@llmq/contract";

/** OpenAI's Batch API: `/v1/batches`. */
export function batchesRouter(deps: AppDeps): Router {
  const router = Router();
  const { batchService, batches } = deps;
  const present = async (batch: Awaited<ReturnType<typeof batchService.get>>) => batchObject(batch, await batches.counts(batch.id));
  // Creating a batch counts as a submission, as `POST /v1/ai/batches` does.
  const submissionLimit = rateLimit({ redis: deps.redis, keys: deps.keys });

  router
    .route("")
    .post(submissionLimit, async (req, res) => {
      const body = validate(createBatchSchema, req.body ?? {});
      const webhook = await deps.webhookService.accept(principalOf(req), body.webhook);
      const caller = principalOf(req);
      const { value: batch, replayed } = await deps.idempotency.once(req, newBatchId, {
        create: (id) => batchService.createFromFile(caller, body, { webhook, id }),
        find: (id) => deps.batches.findVisible(id, caller),
      });
      if (replayed) res.set("Idempotent-Replayed", "true");
      res.json(await present(batch));
    })
    .get(async (req, res) => {
      const query = validate(listBatchesQuerySchema, req.query, "query");
      const page = await batches.list(principalOf(req), { after: query.after, limit: query.limit, kind: "openai" });
      const data = await Promise.all(page.batches.map(present));
      res.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: page.hasMore });
    });

  router.get("/:batchId", async (req, res) => {
    res.json(await present(await batchService.get(principalOf(req), req.params.batchId)));
  });

  router.post("/:batchId/cancel", async (req, res) => {
    res.json(await present(await batchService.cancel(principalOf(req), req.params.batchId)));
  });

  return router;
}
