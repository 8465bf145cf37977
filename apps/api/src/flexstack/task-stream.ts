import type { ModelConfig } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { Request, Response } from "express";
import { principalOf } from "../http/principal";
import type { SseStream } from "../http/sse";
import { type TaskEventFormat, type TaskRelayDeps, relayTask } from "../http/task-relay";
import { taskEnvelope } from "./envelope";

export interface TaskStreamDeps extends TaskRelayDeps {
  modelOf: (id: string) => ModelConfig | undefined;
}

/**
 * Streams a task's events as SSE: `status`, `token` (text deltas with percent), then `result` holding the
 * whole envelope, after which the stream closes. Replays from the start, or after `afterId`
 * (Last-Event-ID). A client that goes away stops only its own stream, never the task.
 */
export function streamTaskEvents(req: Request, res: Response, task: TaskRecord, afterId: string, deps: TaskStreamDeps): void {
  const startedAt = res.locals.startedAt ?? new Date();
  const taskId = task.id;
  relayTask(res, deps, { viewer: principalOf(req), task, afterId }, (sse) => formatOf(sse, req, taskId, startedAt, deps));
}

/** The Flexstack events of one stream: methods, not named arrows, and the task's id, not its row (memory per open stream, see SseResponse). */
function formatOf(sse: SseStream, req: Request, taskId: string, startedAt: Date, deps: TaskStreamDeps): TaskEventFormat {
  return {
    status(event, id) {
      sse.send({ id, event: "status", data: { task_id: taskId, status: event.status, attempt: event.attempt, ...(event.error ? { error: event.error } : {}) } });
    },
    token(event, id) {
      if ((event.choice ?? 0) !== 0) return false; // the dialect shows choice 0 only
      sse.send({ id, event: "token", data: { task_id: taskId, status: "RUNNING", delta: event.delta, percent: event.percent, tokens: event.tokens } });
      return true;
    },
    toolCall() {
      return false; // the Flexstack dialect has no tool calls
    },
    final(final) {
      sse.send({ event: "result", data: taskEnvelope(final, deps.modelOf(final.model), req, startedAt) });
    },
  };
}
