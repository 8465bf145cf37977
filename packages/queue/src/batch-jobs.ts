import { Queue } from "bullmq";
import type { RedisConnection } from "./connection";
import { BATCH_QUEUE, type JobPayload, jobCatalog } from "./job-catalog";

/** The producer side of batch ingestion. */
export class BatchJobs {
  private readonly queue: Queue;

  constructor(connection: RedisConnection, prefix: string) {
    this.queue = new Queue(BATCH_QUEUE, { connection, prefix });
    // As in TaskQueues: failing commands report connection errors; the event would be printed raw.
    this.queue.on("error", () => undefined);
  }

  /** Enqueues the ingestion of a batch; the job id is the batch id, so enqueuing twice is harmless. */
  async enqueueIngest(batchId: string): Promise<void> {
    const payload: JobPayload<"batch-ingest"> = { batchId };
    await this.queue.add("batch-ingest", payload, { ...jobCatalog["batch-ingest"].options, jobId: batchId });
  }

  /** True when an ingest job exists for the batch (in any state). */
  async hasIngest(batchId: string): Promise<boolean> {
    return (await this.queue.getJob(batchId)) !== undefined;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
