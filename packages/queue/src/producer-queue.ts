import { Queue } from "bullmq";
import { type RedisConnection, isCluster } from "./connection";

/** How long an add waits for a Redis Cluster client that is still finding its nodes before it fails as "unavailable" (503). */
const CLUSTER_READY_WAIT_MS = 5_000;

/** Resolves once `redis` (a Cluster client) says ready; rejects after `timeoutMs` with a message isRedisUnavailable knows. */
function clusterReady(redis: RedisConnection, timeoutMs: number): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      redis.off("ready", onReady);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const timer = setTimeout(() => done(new Error("Cluster isn't ready (waited for its nodes before opening a queue)")), timeoutMs);
    redis.on("ready", onReady);
  });
}

/**
 * A BullMQ Queue used to add jobs (batch ingestion, webhook deliveries), opened when its connection can
 * take commands. BullMQ asks the server's version when a Queue is made and keeps that first answer for
 * good: a Queue made on a fail-fast Redis Cluster client that is still loading its slot map (BullMQ takes
 * the Cluster's `connect` status for ready; without an offline queue its INFO is refused) fails that
 * check, and then every later add on it. So on a cluster the Queue is made once the client says ready,
 * and one whose start failed is closed and made again by the next call. On one Redis it is made at once
 * (BullMQ waits for that client's ready itself), as before.
 */
export class ProducerQueue {
  private opening: Promise<Queue> | null = null;

  constructor(
    private readonly name: string,
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {
    this.opening = this.open();
    this.opening.catch(() => undefined);
  }

  /** The open Queue; on a cluster that is not ready within a few seconds, rejects as Redis unavailable. */
  get(): Promise<Queue> {
    this.opening ??= this.open();
    return this.opening;
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = null;
    const queue = await opening?.catch(() => null);
    await queue?.close();
  }

  private async open(): Promise<Queue> {
    try {
      if (isCluster(this.connection)) await clusterReady(this.connection, CLUSTER_READY_WAIT_MS);
      const queue = new Queue(this.name, { connection: this.connection, prefix: this.prefix });
      // Failing commands report connection errors to their callers; the event would be printed raw.
      queue.on("error", () => undefined);
      if (isCluster(this.connection)) {
        try {
          await queue.waitUntilReady();
        } catch (error) {
          await queue.close().catch(() => undefined);
          throw error;
        }
      }
      return queue;
    } catch (error) {
      this.opening = null;
      throw error;
    }
  }
}
