import { ConflictError, type Logger, NotFoundError, ValidationError, newBatchId } from "@llmq/core";
import type { BatchRecord, BatchRepository, FileRepository, TaskRepository, Viewer } from "@llmq/db";
import type { BatchJobs } from "@llmq/queue";
import { windowMs } from "../batches/schemas";
import type { TaskService } from "./task-service";

export interface BatchServiceDeps {
  batches: BatchRepository;
  tasks: TaskRepository;
  files: FileRepository;
  batchJobs: BatchJobs;
  taskService: TaskService;
  logger: Logger;
}

/** Creating, reading and cancelling batches; workers ingest and finish them. */
export class BatchService {
  constructor(private readonly deps: BatchServiceDeps) {}

  /** Checks the input file and creates the batch as `validating`; a worker checks each line and creates its tasks. */
  async createFromFile(
    owner: Viewer,
    request: { input_file_id: string; endpoint: string; completion_window: string; metadata?: Record<string, string> | null },
  ): Promise<BatchRecord> {
    const file = await this.deps.files.findVisible(request.input_file_id, owner);
    if (!file) throw new NotFoundError(`No file with id '${request.input_file_id}'.`, { param: "input_file_id", code: "file_not_found" });
    if (file.purpose !== "batch") {
      throw new ValidationError(`input_file_id: file ${file.id} has purpose '${file.purpose}', not 'batch'.`, { param: "input_file_id" });
    }
    const batch = await this.deps.batches.create({
      id: newBatchId(),
      ownerId: owner.userId,
      kind: "openai",
      endpoint: request.endpoint,
      inputFileId: file.id,
      completionWindow: request.completion_window,
      metadata: request.metadata ?? null,
      expiresAt: new Date(Date.now() + windowMs(request.completion_window)),
      status: "validating",
    });
    // If this enqueue is lost, the sweeper finds the batch still validating with no job and enqueues it.
    await this.deps.batchJobs.enqueueIngest(batch.id).catch((error: unknown) => this.deps.logger.warn({ err: error, batchId: batch.id }, "ingest enqueue failed; the sweeper will retry"));
    return batch;
  }

  async get(viewer: Viewer, batchId: string): Promise<BatchRecord> {
    const batch = await this.deps.batches.findVisible(batchId, viewer);
    if (!batch) throw new NotFoundError(`No batch with id '${batchId}'.`, { param: "batch_id", code: "batch_not_found" });
    return batch;
  }

  /**
   * Stops a batch: queued items never run (CANCELLED at once), running ones are cancelled with their
   * upstream requests, finished ones are kept. The batch is `cancelling` until nothing runs, then `cancelled`.
   */
  async cancel(viewer: Viewer, batchId: string): Promise<BatchRecord> {
    const batch = await this.get(viewer, batchId);
    if (!(await this.deps.batches.transition(batch.id, ["validating", "in_progress"], "cancelling"))) {
      if (batch.status === "cancelling" || batch.status === "cancelled") return this.get(viewer, batchId);
      throw new ConflictError(`Batch ${batch.id} is ${batch.status} and cannot be cancelled.`, { code: "batch_not_cancellable" });
    }
    await this.deps.tasks.closePendingOfBatch(batch.id, "CANCELLED");
    for (const taskId of await this.deps.tasks.runningIdsOfBatch(batch.id)) {
      await this.deps.taskService.cancel({ userId: batch.ownerId, isAdmin: true }, taskId).catch(() => undefined);
    }
    // A batch still validating may be ingested meanwhile; the ingest only runs on `validating`, and the
    // sweeper finishes cancelling once nothing is open.
    if (!(await this.deps.tasks.batchHasOpenTasks(batch.id))) await this.deps.batches.transition(batch.id, ["cancelling"], "cancelled");
    return this.get(viewer, batchId);
  }
}
