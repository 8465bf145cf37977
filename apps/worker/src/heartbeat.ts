import type { Logger } from "@llmq/core";
import type { RunQueue, WorkerLiveness } from "@llmq/queue";
import type { Worker } from "bullmq";

/** This process's run-queue lease holder id and the run queues it serves (their dead holders' leases are reaped). */
export interface LeaseHolder {
  workerId: string;
  queues: readonly RunQueue[];
}

/**
 * Beats for this process's BullMQ Workers and its run-queue lease holder every `deadAfterMs / 5` and
 * hands on the jobs and leases of workers that stopped beating (see WorkerLiveness). Judges others only once it has itself been connected for
 * half of `deadAfterMs`: after a Redis outage nobody could beat, and live peers need a moment to.
 * Returns a stop function that also records this process as gone, so its leftover jobs move at once.
 */
export function startHeartbeat(workers: readonly Worker[], liveness: WorkerLiveness, deadAfterMs: number, logger: Logger, holder?: LeaseHolder): () => Promise<void> {
  const ids = [...workers.map((worker) => worker.id), ...(holder ? [holder.workerId] : [])];
  let connectedSince: number | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const tick = async () => {
    try {
      await liveness.beat(ids);
      connectedSince ??= Date.now();
    } catch (error) {
      if (connectedSince !== null) logger.warn({ err: error }, "heartbeat failed; judging no other worker until Redis answers again");
      connectedSince = null;
      return;
    }
    if (Date.now() - connectedSince < deadAfterMs / 2) return;
    // A queue's jobs are reaped once, by its first Worker (the one that runs BullMQ's stalled check).
    for (const worker of workers.filter((w, index) => workers.findIndex((other) => other.name === w.name) === index)) {
      const released = await liveness.reap(worker);
      if (released.length > 0) logger.warn({ queue: worker.name, jobs: released }, "took over the jobs of a worker that stopped beating");
    }
    // Run queues: the leases of holders that stopped beating end now, their tasks back in line.
    for (const queue of holder?.queues ?? []) {
      const dead = await liveness.deadAmong((await queue.leaseHolders()).filter((id) => id !== holder!.workerId));
      const reaped = await queue.reapDead(dead);
      if (reaped.length > 0) logger.warn({ queue: queue.keys.base, tasks: reaped, workers: dead }, "took over the tasks of a worker that stopped beating");
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((error: unknown) => logger.warn({ err: error }, "liveness round failed"))
        .finally(schedule);
    }, deadAfterMs / 5);
  };
  running = tick().catch((error: unknown) => logger.warn({ err: error }, "liveness round failed")).finally(schedule);

  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
    await liveness.markGone(ids);
  };
}
