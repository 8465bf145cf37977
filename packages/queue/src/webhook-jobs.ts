import type { RedisConnection } from "./connection";
import { type JobPayload, WEBHOOK_QUEUE, jobCatalog } from "./job-catalog";
import { ProducerQueue } from "./producer-queue";

/** The producer side of webhook deliveries. */
export class WebhookJobs {
  private readonly queue: ProducerQueue;

  constructor(connection: RedisConnection, prefix: string) {
    this.queue = new ProducerQueue(WEBHOOK_QUEUE, connection, prefix);
  }

  /** Enqueues attempt `attempt` of a delivery after `delayMs`; the job id (`<delivery>-a<attempt>`) names both, so enqueuing twice is harmless. */
  async enqueueAttempt(deliveryId: string, attempt: number, delayMs = 0): Promise<void> {
    const payload: JobPayload<"webhook-delivery"> = { deliveryId, attempt };
    await (await this.queue.get()).add("webhook-delivery", payload, {
      ...jobCatalog["webhook-delivery"].options,
      jobId: `${deliveryId}-a${attempt}`,
      delay: Math.max(0, Math.round(delayMs)),
    });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
