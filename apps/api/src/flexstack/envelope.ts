import { flexSeconds, flexTime } from "@llmq/contract";
import { type AppError, type ModelConfig, type TaskStatus, isFinal, taskData } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { Request } from "express";
import { clientAddress } from "../http/proxy-trust";
import { epochMicros } from "./clock";
import { NO_QUEUE_ESTIMATE, type QueueEstimate } from "../services/queue-estimate";
import { answeredModel } from "../services/served-model";

/**
 * The request-level frame every Flexstack answer shares, timed to the microsecond as the seed's envelope
 * is: from the request's arrival (the request observer's `arrivedAt`; else `startedAt`) to now.
 */
function frame(req: Request, startedAt: Date) {
  const arrivedAt = req.res?.locals.arrivedAt;
  const start = arrivedAt === undefined ? startedAt.getTime() * 1000 : epochMicros(arrivedAt);
  const end = Math.max(start, epochMicros());
  return {
    start_time: flexTime(start),
    end_time: flexTime(end),
    host_of_client_call_request: clientAddress(req),
    total_time_by_second: flexSeconds(end - start),
  };
}

/** Is the task's outcome a success so far? (Pending and running tasks are.) */
function succeeded(status: TaskStatus): boolean {
  return !isFinal(status) || status === "COMPLETED";
}

/** Flexstack's `configs` echo of a task. */
export function taskConfigs(task: TaskRecord, model: ModelConfig | undefined) {
  const configs = task.configs as Record<string, unknown>;
  return {
    model: answeredModel(task),
    max_new_tokens: configs.max_tokens,
    top_k: configs.top_k,
    top_p: configs.top_p,
    temperature: configs.temperature,
    ...(configs.stop ? { stop: configs.stop } : {}),
    ...(configs.seed !== undefined ? { seed: configs.seed } : {}),
    task_type: model?.taskType ?? `LLM-${task.model.toUpperCase()}`,
    queue_name: task.queueName,
    messages: task.messages,
  };
}

/**
 * What served the task, for the admin alone: upstream names are the operator's (they name GPU pools and
 * vendors), so anyone else's answer has no such key at all.
 */
function servedBy(task: TaskRecord, req: Request) {
  return req.res?.locals.principal?.isAdmin ? { upstream: task.upstream, served_model: task.servedModel } : {};
}

/** The full Flexstack envelope of one task (`queue`: place and ETA, which only a GET of a waiting task computes; `upstream` and `served_model` for the admin), as `POST /v1/ai/text_completion` and `GET /v1/ai/tasks/{id}` answer. */
export function taskEnvelope(task: TaskRecord, model: ModelConfig | undefined, req: Request, startedAt: Date, queue?: QueueEstimate) {
  const ok = succeeded(task.status);
  return {
    data: { is_success: ok, data: { ...taskData(task), ...(queue ?? NO_QUEUE_ESTIMATE), ...servedBy(task, req) }, configs: taskConfigs(task, model) },
    errors: ok || !task.errorCode ? [] : [{ code: task.errorCode, message: task.errorMessage ?? "" }],
    error_description: ok ? "" : (task.errorMessage ?? task.status.toLowerCase()),
    ...frame(req, startedAt),
    status: "success" as const,
  };
}

/** A Flexstack envelope around any other payload (lists, keys, models). */
export function dataEnvelope<T>(payload: T, req: Request, startedAt: Date) {
  return { data: { is_success: true, data: payload }, errors: [], error_description: "", ...frame(req, startedAt), status: "success" as const };
}

/** A failed request, Flexstack style: `status: "error"`, the error in `errors` and `error_description`. */
export function flexstackErrorEnvelope(error: AppError, req: Request, startedAt: Date) {
  return {
    data: null,
    errors: [{ code: error.code, message: error.message, param: error.param }],
    error_description: error.message,
    ...frame(req, startedAt),
    status: "error" as const,
  };
}
