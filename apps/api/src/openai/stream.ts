import { assertNever } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { TaskEventEntry, TaskEventHub } from "@llmq/queue";
import type { Request, Response } from "express";
import { openAIErrorBody } from "../http/error-handler";
import { principalOf } from "../http/principal";
import { openSse } from "../http/sse";
import type { StreamGuard } from "../auth/stream-guard";
import type { TaskService } from "../services/task-service";
import { SYSTEM_FINGERPRINT, choicesOf, chatCompletionId, createdSeconds, finishReasonOf, textCompletionId, usageOf } from "./format";
import { unfinishedTaskError } from "./task-errors";

export interface CompletionStreamOptions {
  kind: "chat" | "text";
  includeUsage: boolean;
  /** Choices the task generates (n x prompts). */
  choices: number;
  /** Legacy `echo`: the prompt each choice starts with, sent before its first token. */
  echoPrompts?: string[];
}

/**
 * Relays a task as OpenAI's streaming format: `chat.completion.chunk` (or `text_completion`) frames,
 * finish reasons, an optional usage chunk, then `data: [DONE]`; a failure after streaming began is one
 * `data: {"error": ...}` frame. The client going away cancels the task, and so aborts the upstream.
 */
export function streamCompletion(
  req: Request,
  res: Response,
  task: TaskRecord,
  deps: { hub: TaskEventHub; taskService: TaskService; streamGuard: StreamGuard },
  options: CompletionStreamOptions,
): void {
  const principal = principalOf(req);
  const base = {
    id: options.kind === "chat" ? chatCompletionId(task.id) : textCompletionId(task.id),
    object: options.kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created: createdSeconds(task),
    model: task.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  const usageNull = options.includeUsage ? { usage: null } : {};
  let finished = false;
  let sentTokens = false;
  let attempt = 0;
  let unsubscribe: () => void = () => undefined;
  const sse = openSse(res, {
    guard: deps.streamGuard,
    principal,
    needsAdmin: task.ownerId !== principal.userId,
    onClose: (ended) => {
      unsubscribe();
      // OpenAI semantics: a streaming client that leaves cancels its request, and so does a revoked key
      // or a deleted account. An expired access token does not: the task runs on, to be fetched with
      // GET /v1/chat/completions/{id} (or /v1/completions/{id}) and a refreshed token.
      if (!finished && ended?.code !== "access_token_expired") void deps.taskService.cancel(principal, task.id).catch(() => undefined);
    },
  });
  if (sse.closed) return;

  const chunk = (choice: Record<string, unknown>) => sse.send({ data: { ...base, choices: [choice], ...usageNull } });
  const delta = (index: number, content: Record<string, unknown>) =>
    chunk(options.kind === "chat" ? { index, delta: content, logprobs: null, finish_reason: null } : { index, text: content.content ?? "", logprobs: null, finish_reason: null });
  const fail = (error: ReturnType<typeof unfinishedTaskError>) => {
    finished = true;
    sse.send({ data: openAIErrorBody(error) });
    sse.close();
  };

  const finish = async () => {
    if (finished) return;
    finished = true;
    unsubscribe();
    const final = await deps.taskService.get(principal, task.id);
    if (final.status !== "COMPLETED") return fail(unfinishedTaskError(final));
    for (const choice of choicesOf(final)) {
      const last = { index: choice.index, logprobs: null, finish_reason: finishReasonOf(choice) };
      chunk(options.kind === "chat" ? { ...last, delta: {} } : { ...last, text: "" });
    }
    if (options.includeUsage) sse.send({ data: { ...base, choices: [], usage: usageOf(final) } });
    sse.send({ data: "[DONE]" });
    sse.close();
  };

  for (let index = 0; index < options.choices; index++) {
    if (options.kind === "chat") delta(index, { role: "assistant", content: "", refusal: null });
    else if (options.echoPrompts?.[index]) delta(index, { content: options.echoPrompts[index] });
  }

  const deliver = (entries: TaskEventEntry[]) => {
    for (const { event } of entries) {
      if (finished) return;
      switch (event.type) {
        case "status":
          if (event.status !== "RUNNING") break;
          // Text already sent cannot be taken back: a retried attempt ends this stream with an error.
          if (event.attempt > attempt && sentTokens) {
            return fail(unfinishedTaskError({ ...task, status: "FAILED", errorCode: "stream_interrupted", errorMessage: `The generation was interrupted and is being retried; fetch the result with GET /v1/${options.kind === "chat" ? "chat/completions" : "completions"}/${base.id}.` }));
          }
          attempt = Math.max(attempt, event.attempt);
          break;
        case "token":
          if (event.attempt < attempt) break;
          sentTokens = true;
          delta(event.choice ?? 0, { content: event.delta });
          break;
        case "tool_call":
          if (event.attempt < attempt || options.kind !== "chat") break;
          sentTokens = true;
          delta(event.choice, {
            tool_calls: [
              {
                index: event.index,
                ...(event.id ? { id: event.id, type: "function" } : {}),
                function: { ...(event.name ? { name: event.name } : {}), ...(event.arguments !== undefined ? { arguments: event.arguments } : {}) },
              },
            ],
          });
          break;
        case "final":
          void finish().catch(() => sse.close());
          return;
        default:
          assertNever(event);
      }
    }
  };
  unsubscribe = deps.hub.subscribe(task.id, "0", deliver, () => void finish().catch(() => sse.close()));
}
