import { type AppError, assertNever, isFinal } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { TaskEvent, TaskEventEntry, TaskEventHub, TaskEventLog } from "@llmq/queue";
import type { Response } from "express";
import type { StreamGuard } from "../auth/stream-guard";
import type { TaskService } from "../services/task-service";
import type { Principal } from "./principal";
import { type SseStream, openSse } from "./sse";

type EventOf<T extends TaskEvent["type"]> = Extract<TaskEvent, { type: T }>;

/** Entries replayed from a task's event stream when it has ended already (then the result from Postgres). */
const REPLAY_MAX_ENTRIES = 20_000;

export interface TaskRelayDeps {
  hub: TaskEventHub;
  log: TaskEventLog;
  taskService: TaskService;
  streamGuard: StreamGuard;
}

/**
 * What a dialect makes of a followed task's events. The relay has already ordered them, dropped those
 * of attempts fenced off by a newer one, and stops calling once the task's end is being answered.
 */
export interface TaskEventFormat {
  status(event: EventOf<"status">, id: string): void;
  /** Output of the attempt being shown; true when something was sent. */
  token(event: EventOf<"token">, id: string): boolean;
  toolCall(event: EventOf<"tool_call">, id: string): boolean;
  /**
   * A newer attempt started after output of an earlier one was sent (a retry). True ends the stream
   * here (the dialect has sent why); absent or false follows the new attempt.
   */
  restarted?(attempt: number): boolean;
  /** The task as it ended, read again from Postgres after its final event: sent once, then the stream closes. */
  final(task: TaskRecord): void;
}

export interface TaskRelayOptions {
  viewer: Principal;
  task: TaskRecord;
  /** Resume after this event id (Last-Event-ID), "0" for the start. */
  afterId: string;
  /** Called once when the stream closes: `ended` is the credential error that closed it, `finished` whether the task's end was answered. */
  onClose?(ended: AppError | undefined, finished: boolean): void;
}

/**
 * Follows one task for one SSE client, for both dialects: replay from `afterId`, then each new event;
 * attempt fencing (output of an attempt older than one already seen is dropped); finish once, on the
 * final event or when following fails, with the task read again from Postgres; and an ended task's
 * leftover events replayed (its stream may have expired) before its result. The dialect only formats.
 */
export function relayTask(res: Response, deps: TaskRelayDeps, options: TaskRelayOptions, formatOf: (sse: SseStream) => TaskEventFormat): void {
  const { viewer, task } = options;
  let finished = false;
  let attempt = 0;
  let shown = false;
  let unsubscribe: () => void = () => undefined;
  // Another owner's task is the admin's to follow: the stream ends if the role goes.
  const sse = openSse(res, {
    guard: deps.streamGuard,
    principal: viewer,
    needsAdmin: task.ownerId !== viewer.userId,
    onClose: (ended) => {
      unsubscribe();
      options.onClose?.(ended, finished);
    },
  });
  if (sse.closed) return; // the client left before the stream opened: nothing to follow
  const format = formatOf(sse);

  const stop = () => {
    finished = true;
    unsubscribe();
  };
  const finish = async () => {
    if (finished) return;
    stop();
    format.final(await deps.taskService.get(viewer, task.id));
    sse.close();
  };
  const end = () => void finish().catch(() => sse.close());

  const deliver = (entries: TaskEventEntry[]) => {
    for (const { id, event } of entries) {
      if (finished) return;
      switch (event.type) {
        case "status":
          if (event.status === "RUNNING" && event.attempt > attempt) {
            if (shown && format.restarted?.(event.attempt)) {
              stop();
              sse.close();
              return;
            }
            attempt = event.attempt;
          }
          format.status(event, id);
          break;
        case "token":
          if (event.attempt < attempt) break; // a fenced-off attempt still writing
          attempt = event.attempt;
          if (format.token(event, id)) shown = true;
          break;
        case "tool_call":
          if (event.attempt < attempt) break;
          attempt = event.attempt;
          if (format.toolCall(event, id)) shown = true;
          break;
        case "final":
          end();
          return;
        default:
          assertNever(event);
      }
    }
  };

  if (isFinal(task.status)) {
    void deps.log
      .readAfter(task.id, options.afterId, REPLAY_MAX_ENTRIES)
      .then((entries) => deliver(entries.filter((entry) => entry.event.type !== "final")))
      .catch(() => undefined)
      .then(finish)
      .catch(() => sse.close());
    return;
  }
  unsubscribe = deps.hub.subscribe(task.id, options.afterId, deliver, end);
}
