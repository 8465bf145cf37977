import type { ModelConfig } from "@llmq/core";
import { assertNever, isFinal } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { TaskEventEntry, TaskEventHub, TaskEventLog } from "@llmq/queue";
import type { Request, Response } from "express";
import { openSse } from "../http/sse";
import type { StreamGuard } from "../auth/stream-guard";
import type { TaskService } from "../services/task-service";
import { taskEnvelope } from "./envelope";

export interface TaskStreamDeps {
  hub: TaskEventHub;
  log: TaskEventLog;
  taskService: TaskService;
  modelOf: (id: string) => ModelConfig | undefined;
  streamGuard: StreamGuard;
}

/**
 * Streams a task's events as SSE: `status`, `token` (text deltas with percent), then `result` holding the
 * whole envelope, after which the stream closes. Replays from the start, or after `afterId`
 * (Last-Event-ID). A client that goes away stops only its own stream, never the task.
 */
export function streamTaskEvents(req: Request, res: Response, task: TaskRecord, afterId: string, deps: TaskStreamDeps): void {
  const startedAt = res.locals.startedAt ?? new Date();
  const viewer = res.locals.principal!;
  let attempt = 0;
  let finishing = false;
  let unsubscribe: () => void = () => undefined;
  // Another owner's task is the admin's to follow: the stream ends if the role goes.
  const sse = openSse(res, { guard: deps.streamGuard, principal: viewer, needsAdmin: task.ownerId !== viewer.userId, onClose: () => unsubscribe() });

  const finish = async () => {
    if (finishing) return;
    finishing = true;
    unsubscribe();
    const final = await deps.taskService.get(viewer, task.id);
    sse.send({ event: "result", data: taskEnvelope(final, deps.modelOf(final.model), req, startedAt) });
    sse.close();
  };

  const deliver = (entries: TaskEventEntry[]) => {
    for (const { id, event } of entries) {
      if (finishing) return;
      switch (event.type) {
        case "status":
          if (event.status === "RUNNING") attempt = Math.max(attempt, event.attempt);
          sse.send({ id, event: "status", data: { task_id: task.id, status: event.status, attempt: event.attempt, ...(event.error ? { error: event.error } : {}) } });
          break;
        case "token":
          // A fenced-off attempt still writing, or another choice than the one this dialect shows.
          if (event.attempt < attempt || (event.choice ?? 0) !== 0) break;
          attempt = event.attempt;
          sse.send({ id, event: "token", data: { task_id: task.id, status: "RUNNING", delta: event.delta, percent: event.percent, tokens: event.tokens } });
          break;
        case "tool_call":
          break; // the Flexstack dialect has no tool calls
        case "final":
          void finish().catch(() => sse.close());
          return;
        default:
          assertNever(event);
      }
    }
  };

  if (sse.closed) return; // the client left before the stream opened: nothing to follow
  const onError = () => void finish().catch(() => sse.close());
  if (isFinal(task.status)) {
    // The stream may have expired for an old task: replay what is left, then the result from Postgres.
    void deps.log
      .readAfter(task.id, afterId, 20_000)
      .then((entries) => deliver(entries.filter((entry) => entry.event.type !== "final")))
      .catch(() => undefined)
      .then(finish)
      .catch(() => sse.close());
    return;
  }
  unsubscribe = deps.hub.subscribe(task.id, afterId, deliver, onError);
}
