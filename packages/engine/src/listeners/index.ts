import type { BatchRepository } from "@llmq/db";
import type { KeySpace, RedisConnection, TaskUpdates, TokenUsage } from "@llmq/queue";
import type { WebhookNotifier } from "@llmq/webhooks";
import type { EngineEventName } from "../bus";
import type { TaskEngine } from "../engine";
import { batchProgressListener } from "./batch-progress";
import { cancelSignalListener } from "./cancel-signal";
import { liveListListener } from "./live-list";
import { usageListener } from "./usage";
import { webhookListener } from "./webhooks";

export interface ListenerDeps {
  updates: Pick<TaskUpdates, "publish">;
  webhooks: Pick<WebhookNotifier, "taskEnded" | "watchProgress" | "batchEnded" | "batchProgressed">;
  tokenUsage: Pick<TokenUsage, "add" | "settleBatch">;
  batches: BatchRepository;
  redis: RedisConnection;
  keys: KeySpace;
  /** Counts each engine event (a process's metrics), if given. */
  countEvent?: (name: EngineEventName) => void;
}

const ALL_EVENTS: EngineEventName[] = [
  "task.created",
  "task.started",
  "task.progressed",
  "task.completed",
  "task.failed",
  "task.retried",
  "task.cancelled",
  "task.expired",
  "batch.created",
  "batch.started",
  "batch.progressed",
  "batch.ended",
];

/** Registers every side effect of state changes on the engine's bus, once per process (API and worker alike). */
export function registerListeners(engine: TaskEngine, deps: ListenerDeps): void {
  liveListListener(engine.bus, deps.updates);
  webhookListener(engine.bus, deps.webhooks);
  batchProgressListener(engine.bus, engine.batches);
  usageListener(engine.bus, { tokenUsage: deps.tokenUsage, batches: deps.batches });
  cancelSignalListener(engine.bus, { redis: deps.redis, keys: deps.keys });
  const { countEvent } = deps;
  if (countEvent) for (const name of ALL_EVENTS) engine.bus.on(name, () => countEvent(name));
}
