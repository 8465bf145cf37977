import { Queue } from "bullmq";
import { testRedisClusterNodes } from "@llmq/testkit";
import { BATCH_QUEUE, BatchJobs, WEBHOOK_QUEUE, WebhookJobs, closeRedis, createRedis, keySpace, parseClusterNodes } from "../src";

// BullMQ asks the server's version when a Queue is made and keeps that first answer. The API makes its
// producer queues (batch ingestion, webhook deliveries) on a fail-fast connection right after creating
// it: on a Redis Cluster client still loading its slot map, that check was refused ("Cluster isn't
// ready") and every later add on the queue failed with it, for good.
describe("producer queues on a Redis Cluster client made a moment ago", () => {
  it("add jobs once the cluster is ready, not failing for good because they were made before", async () => {
    const redis = createRedis(parseClusterNodes(testRedisClusterNodes()), { name: "producer-queue-test" });
    // Made the moment the client has reached its nodes, before it has loaded the slot map (as in the API,
    // whose first awaits after connecting are on Postgres).
    await new Promise((resolve) => redis.once("connect", resolve));
    expect(redis.status).toBe("connect");
    const keys = keySpace(`pq${Date.now()}`);
    const batches = new BatchJobs(redis, keys.bull(BATCH_QUEUE));
    const webhooks = new WebhookJobs(redis, keys.bull(WEBHOOK_QUEUE));
    try {
      await batches.enqueueIngest("batch-1");
      await webhooks.enqueueAttempt("delivery-1", 1, 60_000);
      expect(await batches.hasIngest("batch-1")).toBe(true);
      const reader = new Queue(WEBHOOK_QUEUE, { connection: redis, prefix: keys.bull(WEBHOOK_QUEUE) });
      try {
        expect(await (await reader.getJob("delivery-1-a1"))?.getState()).toBe("delayed");
      } finally {
        await reader.close();
      }
    } finally {
      await batches.close();
      await webhooks.close();
      await closeRedis(redis);
    }
  });
});
