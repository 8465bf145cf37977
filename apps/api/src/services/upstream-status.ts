import type { ModelConfig, ModelsConfig } from "@llmq/core";
import { type RedisConnection, RunQueue, type UpstreamSnapshot } from "@llmq/queue";

/** One model's upstreams as the run queue sees them: the models file's settings beside SNAPSHOT's reading. */
export interface ModelUpstreamSnapshot {
  model: ModelConfig;
  upstreams: { config: ModelConfig["upstreams"][number]; snapshot: UpstreamSnapshot }[];
}

/**
 * Reads every model's upstream state, load and health from its run queue: one read-only SNAPSHOT script
 * per model (about 11 commands per upstream, whatever the queue's length), all models in parallel. The
 * limits are the models file's, passed with the call: Redis stores none (see docs/scheduling.md).
 */
export class UpstreamStatus {
  private readonly queues = new Map<string, RunQueue>();

  constructor(
    redis: RedisConnection,
    /** The deployment's key prefix (REDIS_PREFIX), under which the workers keep the run queues. */
    prefix: string,
    private readonly models: ModelsConfig,
  ) {
    for (const model of models.models) this.queues.set(model.id, new RunQueue(redis, { prefix, queueName: model.queueName }));
  }

  /** Every model's upstreams, in the models file's order. */
  async snapshot(): Promise<ModelUpstreamSnapshot[]> {
    return Promise.all(
      this.models.models.map(async (model) => {
        const snapshots = await this.queues.get(model.id)!.upstreams.snapshot(model.upstreams);
        return { model, upstreams: model.upstreams.map((config, index) => ({ config, snapshot: snapshots[index]! })) };
      }),
    );
  }
}
