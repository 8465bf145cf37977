import {
  BATCH_ENDPOINTS,
  type BatchEndpoint,
  type BatchLineError,
  type Logger,
  type ModelsConfig,
  isBatchLineError,
  jsonlLines,
  parseBatchLine,
} from "@llmq/core";
import { type BatchRepository, type BatchTask, type FileRepository, type TaskRepository, batchTaskOf } from "@llmq/db";
import { BATCH_PRIORITY, type TaskEventLog, type TaskQueues, type TaskUpdates, jobCatalog } from "@llmq/queue";
import type { WebhookNotifier } from "@llmq/webhooks";
import type { Job } from "bullmq";

export interface IngestDeps {
  batches: BatchRepository;
  tasks: TaskRepository;
  events: TaskEventLog;
  files: FileRepository;
  /** Producers for every model's queue: a batch may target any model. */
  queues: TaskQueues;
  updates: TaskUpdates;
  models: ModelsConfig;
  webhooks: Pick<WebhookNotifier, "batchEnded">;
  logger: Logger;
}

/** Lines held in memory between two inserts (and enqueues). */
const CHUNK = 1_000;
/** OpenAI reports at most this many line errors; the count of the rest is in the last message. */
const MAX_REPORTED_ERRORS = 100;

/**
 * Turns a validating batch into tasks. Pass one reads the whole file and checks every line (a file with
 * any bad line fails the batch, creating nothing); pass two inserts the tasks and enqueues their jobs in
 * chunks, with ids derived from the batch and line, so a crash and a rerun create nothing twice.
 */
export function createBatchIngestProcessor(deps: IngestDeps) {
  return async function ingestBatch(job: Job): Promise<void> {
    const { batchId } = jobCatalog["batch-ingest"].payload.parse(job.data);
    const batch = await deps.batches.findById(batchId);
    if (!batch || batch.status !== "validating" || !batch.inputFileId) return;
    const endpoint = batch.endpoint as BatchEndpoint;
    if (!BATCH_ENDPOINTS.includes(endpoint)) throw new Error(`batch ${batchId} has unknown endpoint ${batch.endpoint}`);
    const fileId = batch.inputFileId;
    const lines = () => jsonlLines(deps.files.content(fileId));

    const errors: BatchLineError[] = [];
    let errorCount = 0;
    let requests = 0;
    const customIds = new Set<string>();
    for await (const { line, text } of lines()) {
      if (text === null) throw new Error(`batch ${batchId}: line ${line} is too long`); // no limit is set here
      if (text.trim() === "") continue;
      requests += 1;
      const parsed = parseBatchLine(text, line, endpoint, deps.models);
      const problem: BatchLineError | null = isBatchLineError(parsed)
        ? parsed
        : customIds.has(parsed.customId)
          ? { code: "duplicate_custom_id", message: `Line ${line}: custom_id '${parsed.customId}' is used twice.`, param: "custom_id", line }
          : null;
      if (!isBatchLineError(parsed)) customIds.add(parsed.customId);
      if (problem) {
        errorCount += 1;
        if (errors.length < MAX_REPORTED_ERRORS) errors.push(problem);
      }
    }
    if (requests === 0) errors.push({ code: "empty_file", message: "The input file holds no requests.", param: null, line: 0 });
    if (errors.length > 0) {
      if (errorCount > errors.length) {
        errors.push({ code: "too_many_errors", message: `${errorCount - errors.length} more lines are invalid.`, param: null, line: 0 });
      }
      if (await deps.batches.transition(batchId, ["validating"], "failed", { errors: { object: "list", data: errors } as object })) {
        deps.logger.info({ batchId, errorCount }, "batch failed validation");
        await deps.webhooks.batchEnded(batchId);
      }
      return;
    }

    // Known now: progress shown while the tasks go in counts against the real total.
    await deps.batches.transition(batchId, ["validating"], "validating", { totalCount: requests });
    let index = -1;
    let chunk: BatchTask[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      await deps.tasks.createBatchTasks(batchId, chunk);
      await deps.queues.enqueueMany(chunk, { priority: BATCH_PRIORITY });
      await deps.updates.publish(chunk.map((task) => ({ taskId: task.id, ownerId: task.ownerId })));
      chunk = [];
    };
    for await (const { line, text } of lines()) {
      if (text === null) throw new Error(`batch ${batchId}: line ${line} is too long`);
      if (text.trim() === "") continue;
      index += 1;
      const parsed = parseBatchLine(text, line, endpoint, deps.models);
      if (isBatchLineError(parsed)) throw new Error(`batch ${batchId}: line ${line} changed between passes`);
      chunk.push(batchTaskOf(batchId, batch.ownerId, parsed, index));
      if (chunk.length >= CHUNK) await flush();
    }
    await flush();
    if (!(await deps.batches.transition(batchId, ["validating"], "in_progress", { totalCount: index + 1 }))) {
      // Cancelled while we read: none of its items may run.
      await deps.batches.transition(batchId, ["cancelling"], "cancelling", { totalCount: index + 1 });
      const closed = await deps.tasks.closePendingOfBatch(batchId, "CANCELLED");
      await deps.events.appendEndings(closed, "CANCELLED");
      await deps.updates.publish(closed.map((task) => ({ taskId: task.id, ownerId: batch.ownerId })));
      return;
    }
    deps.logger.info({ batchId, requests: index + 1 }, "batch ingested");
  };
}
