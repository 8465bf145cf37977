import type { Logger } from "@llmq/core";
import type { BatchRepository, TaskRepository } from "@llmq/db";
import type { TaskEventLog, TaskQueues } from "@llmq/queue";
import { BatchTransitions } from "./batches";
import { EngineBus } from "./bus";
import { EventWriter } from "./event-writer";
import { TaskTransitions } from "./tasks";

export interface EngineDeps {
  tasks: TaskRepository;
  batches: BatchRepository;
  queues: TaskQueues;
  /** Event streams, appended through the engine's event writer (a task's stream opens with its first event after PENDING). */
  log: Pick<TaskEventLog, "appendMany">;
  logger: Logger;
}

/**
 * The only writer of task and batch state. One per process (API or worker), with its bus: the
 * process registers its side effects on `bus` once at start-up (see registerListeners), then routes,
 * the attempt runner, the sweeper, expiry and batch ingestion call `tasks` and `batches` and nothing else
 * for state. `events` is the per-tick event writer the attempt runner streams tokens through.
 */
export class TaskEngine {
  readonly bus: EngineBus;
  readonly events: EventWriter;
  readonly tasks: TaskTransitions;
  readonly batches: BatchTransitions;

  constructor(deps: EngineDeps) {
    this.bus = new EngineBus(deps.logger);
    this.events = new EventWriter(deps.log, deps.logger);
    this.tasks = new TaskTransitions({ tasks: deps.tasks, queues: deps.queues, events: this.events, bus: this.bus, logger: deps.logger });
    this.batches = new BatchTransitions({ batches: deps.batches, tasks: deps.tasks, taskTransitions: this.tasks, bus: this.bus, logger: deps.logger });
  }

  /** Runs the listeners still running and writes what is still pending; call before closing connections. */
  async close(): Promise<void> {
    await this.bus.settled();
    await this.events.flush();
  }
}
