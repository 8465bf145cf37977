import type { TaskRecord } from "@llmq/db";
import type { Request, Response } from "express";
import { ValidationError } from "@llmq/core";
import type { TaskRelayDeps } from "../http/task-relay";

export interface ResponseStreamOptions {
  /** Send only events with a larger sequence number (`starting_after`); -1 for all. */
  startingAfter: number;
  /** Whether the client leaving cancels the response (a non-background `stream: true` create). */
  cancelOnClose: boolean;
}

/**
 * Streams a response as OpenAI's Responses events (`response.created` ... `response.completed`), each
 * with its `sequence_number`; the same numbers on every replay, from any API process.
 * TODO(issue 15, stream part): not built yet.
 */
export function streamResponse(_req: Request, _res: Response, _task: TaskRecord, _deps: TaskRelayDeps, _options: ResponseStreamOptions): void {
  throw new ValidationError("stream: true is not supported yet on /v1/responses.", { param: "stream" });
}
