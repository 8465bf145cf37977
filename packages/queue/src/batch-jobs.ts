import type { RedisConnection } from "./connection";
import { BATCH_QUEUE, type JobPayload, jobCatalog } from "./job-catalog";
import { ProducerQueue } from "./producer-queue";

/** The producer side of batch ingestion. */
export class BatchJobs {
  private readonly queue: ProducerQueue;

  constructor(connection: RedisConnection, prefix: string) {
    this.queue = new ProducerQueue(BATCH_QUEUE, connection, prefix);
  }

  /** Enqueues the ingestion of a batch; the job id is the batch id, so enqueuing twice is harmless. */
  async enqueueIngest(batchId: string): Promise<void> {
    const payload: JobPayload<"batch-ingest"> = { batchId };
    await (await this.queue.get()).add("batch-ingest", payload, { ...jobCatalog["batch-ingest"].options, jobId: batchId });
  }

  /** True when an ingest job exists for the batch (in any state). */
  async hasIngest(batchId: string): Promise<boolean> {
    return (await (await this.queue.get()).getJob(batchId)) !== undefined;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
