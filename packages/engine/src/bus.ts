import type { Logger, TaskStatus } from "@llmq/core";
import type { BatchRecord } from "@llmq/db";

/** What listeners learn of a task: enough to publish, notify and count without reading its row again. */
export interface TaskRef {
  id: string;
  ownerId: string;
  batchId: string | null;
  apiKeyId: string | null;
  queueName: string;
  /** The stored webhook spec (`{url, events, key_id}`), or null. */
  webhook: unknown;
}

/** Tokens an attempt used (prompt + completion), as counted against quotas. */
export interface TaskUsage {
  promptTokens: number;
  completionTokens: number;
}

/** Every state change the engine makes, as listeners receive it (after it is committed and its events appended). */
export interface EngineEvents {
  /** Tasks are created together (a tick's submits, a batch's chunk): one event for all of them. */
  "task.created": { tasks: TaskRef[] };
  "task.started": { task: TaskRef; attempt: number };
  "task.progressed": { task: TaskRef; attempt: number; percent: number };
  "task.completed": { task: TaskRef; attempt: number; usage: TaskUsage };
  "task.failed": { task: TaskRef; attempt: number | null; error: { code: string; message: string } };
  "task.retried": { task: TaskRef; attempt: number; error: { code: string; message: string } };
  /** `withBatch`: closed together with its batch's other queued items (the batch transition moves the batch on itself). */
  "task.cancelled": { task: TaskRef; previous: TaskStatus; withBatch?: boolean };
  /** A cancelled attempt's output and usage were kept on its row, once its worker stopped: the tokens it spent count. */
  "task.cancelled_output_kept": { task: TaskRef; attempt: number; usage: TaskUsage };
  "task.expired": { task: TaskRef; withBatch?: boolean };
  "batch.created": { batchId: string; ownerId: string };
  "batch.started": { batchId: string; ownerId: string };
  /** An open batch with tasks still to end was looked at (by the sweeper): progress webhooks go from here. */
  "batch.progressed": { batch: BatchRecord };
  "batch.ended": { batchId: string; ownerId: string; status: string };
}

export type EngineEventName = keyof EngineEvents;
type Listener<E extends EngineEventName> = (event: EngineEvents[E]) => void | Promise<void>;

/**
 * The engine's in-process bus: side effects (live lists, webhooks, batch progress, usage counters,
 * metrics) listen here, registered once at start-up, and are never called by hand. A listener runs after
 * the state change is committed; its failure is logged and never undoes or fails the change (each has its
 * own repair: the sweeper writes lost webhooks and settles batches, live lists re-read rows).
 */
export class EngineBus {
  private readonly listeners = new Map<EngineEventName, Listener<EngineEventName>[]>();
  private readonly announcing = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  on<E extends EngineEventName>(name: E, listener: Listener<E>): void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener as Listener<EngineEventName>);
    this.listeners.set(name, list);
  }

  /** Calls every listener of `name`; resolves once all have settled (callers need not wait). */
  async emit<E extends EngineEventName>(name: E, event: EngineEvents[E]): Promise<void> {
    const list = this.listeners.get(name);
    if (!list) return;
    await Promise.all(
      list.map(async (listener) => {
        try {
          await listener(event);
        } catch (error) {
          this.logger.warn({ err: error, event: name }, "an engine listener failed");
        }
      }),
    );
  }

  /**
   * Calls every listener of `name` without making the caller wait for them: the transitions of a running
   * attempt (started, progressed, ended) hand their side effects over and move on, so a job's slot is not
   * held by a live-list publish or a webhook enqueue. `settled()` waits for what is still running.
   */
  announce<E extends EngineEventName>(name: E, event: EngineEvents[E]): void {
    if (!this.listeners.has(name)) return;
    const running = this.emit(name, event);
    this.announcing.add(running);
    void running.finally(() => this.announcing.delete(running));
  }

  /** Resolves once every announcement made so far has run its listeners (before closing connections; tests). */
  async settled(): Promise<void> {
    while (this.announcing.size > 0) await Promise.all(this.announcing);
  }

  /** Listeners of `name` (tests check that each transition reaches every side effect). */
  listenerCount(name: EngineEventName): number {
    return this.listeners.get(name)?.length ?? 0;
  }
}
