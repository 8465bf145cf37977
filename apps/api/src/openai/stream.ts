import type { TaskRecord } from "@llmq/db";
import type { Request, Response } from "express";
import { openAIErrorBody } from "../http/error-handler";
import { principalOf } from "../http/principal";
import { type TaskRelayDeps, relayTask } from "../http/task-relay";
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
export function streamCompletion(req: Request, res: Response, task: TaskRecord, deps: TaskRelayDeps, options: CompletionStreamOptions): void {
  const principal = principalOf(req);
  const chat = options.kind === "chat";
  const base = {
    id: chat ? chatCompletionId(task.id) : textCompletionId(task.id),
    object: chat ? "chat.completion.chunk" : "text_completion",
    created: createdSeconds(task),
    model: task.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  const usageNull = options.includeUsage ? { usage: null } : {};
  const onClose = (ended: { code: string } | undefined, finished: boolean) => {
    // OpenAI semantics: a streaming client that leaves cancels its request, and so does a revoked key
    // or a deleted account. An expired access token does not: the task runs on, to be fetched with
    // GET /v1/chat/completions/{id} (or /v1/completions/{id}) and a refreshed token.
    if (!finished && ended?.code !== "access_token_expired") void deps.taskService.cancel(principal, task.id).catch(() => undefined);
  };

  relayTask(res, deps, { viewer: principal, task, afterId: "0", onClose }, (sse) => {
    const chunk = (choice: Record<string, unknown>) => sse.send({ data: { ...base, choices: [choice], ...usageNull } });
    const delta = (index: number, content: Record<string, unknown>) =>
      chunk(chat ? { index, delta: content, logprobs: null, finish_reason: null } : { index, text: content.content ?? "", logprobs: null, finish_reason: null });
    const fail = (error: ReturnType<typeof unfinishedTaskError>) => sse.send({ data: openAIErrorBody(error) });

    for (let index = 0; index < options.choices; index++) {
      if (chat) delta(index, { role: "assistant", content: "", refusal: null });
      else if (options.echoPrompts?.[index]) delta(index, { content: options.echoPrompts[index] });
    }

    return {
      status: () => undefined,
      token: (event) => {
        delta(event.choice ?? 0, { content: event.delta });
        return true;
      },
      toolCall: (event) => {
        if (!chat) return false;
        delta(event.choice, {
          tool_calls: [
            {
              index: event.index,
              ...(event.id ? { id: event.id, type: "function" } : {}),
              function: { ...(event.name ? { name: event.name } : {}), ...(event.arguments !== undefined ? { arguments: event.arguments } : {}) },
            },
          ],
        });
        return true;
      },
      // Text already sent cannot be taken back: a retried attempt ends this stream with an error.
      restarted: () => {
        fail(
          unfinishedTaskError({
            ...task,
            status: "FAILED",
            errorCode: "stream_interrupted",
            errorMessage: `The generation was interrupted and is being retried; fetch the result with GET /v1/${chat ? "chat/completions" : "completions"}/${base.id}.`,
          }),
        );
        return true;
      },
      final: (final) => {
        if (final.status !== "COMPLETED") return fail(unfinishedTaskError(final));
        for (const choice of choicesOf(final)) {
          const last = { index: choice.index, logprobs: null, finish_reason: finishReasonOf(choice) };
          chunk(chat ? { ...last, delta: {} } : { ...last, text: "" });
        }
        if (options.includeUsage) sse.send({ data: { ...base, choices: [], usage: usageOf(final) } });
        sse.send({ data: "[DONE]" });
      },
    };
  });
}
