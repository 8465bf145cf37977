import { type KeySpace, type RedisConnection, publishCancel } from "@llmq/queue";
import type { EngineBus } from "../bus";

/** A running task cancelled: the worker holding its job hears it on the cancel channel and aborts the upstream request. */
export function cancelSignalListener(bus: EngineBus, deps: { redis: RedisConnection; keys: KeySpace }): void {
  bus.on("task.cancelled", async ({ task, previous }) => {
    if (previous === "RUNNING") await publishCancel(deps.redis, deps.keys, task.id);
  });
}
