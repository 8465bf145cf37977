import type { AppError, ServiceTier } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { TaskEvent } from "@llmq/queue";
import type { Request, Response } from "express";
import { openAIErrorBody } from "../http/error-handler";
import { type Principal, principalOf } from "../http/principal";
import type { SseStream } from "../http/sse";
import { type TaskEventFormat, type TaskRelayDeps, type TaskRelayOptions, relayTask } from "../http/task-relay";
import { SYSTEM_FINGERPRINT, choicesOf, chatCompletionId, createdSeconds, finishReasonOf, textCompletionId, tierOf, usageOf } from "./format";
import { unfinishedTaskError } from "./task-errors";
import { answeredModel } from "../services/served-model";

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
  const chunks = new CompletionChunks(task, deps, principalOf(req), options);
  const onClose: TaskRelayOptions["onClose"] = chunks.closed.bind(chunks);
  relayTask(res, deps, { viewer: chunks.principal, task, afterId: "0", onClose }, (sse) => chunks.start(sse));
}

/**
 * One stream's chunks. A class holding the chunks' fixed fields and the task's id, never its row, and
 * no named closures (memory per open stream, see SseResponse).
 */
class CompletionChunks implements TaskEventFormat {
  private readonly taskId: string;
  private readonly chat: boolean;
  private readonly base: { id: string; object: string; created: number; model: string; system_fingerprint: string; service_tier: ServiceTier };
  private sse: SseStream | null = null;

  constructor(
    task: TaskRecord,
    private readonly deps: TaskRelayDeps,
    readonly principal: Principal,
    private readonly options: CompletionStreamOptions,
  ) {
    this.taskId = task.id;
    this.chat = options.kind === "chat";
    this.base = {
      id: this.chat ? chatCompletionId(task.id) : textCompletionId(task.id),
      object: this.chat ? "chat.completion.chunk" : "text_completion",
      created: createdSeconds(task),
      model: answeredModel(task),
      system_fingerprint: SYSTEM_FINGERPRINT,
      service_tier: tierOf(task),
    };
  }

  /** The stream opened: each choice's first chunk (the assistant role, or the echoed prompt). */
  start(sse: SseStream): TaskEventFormat {
    this.sse = sse;
    for (let index = 0; index < this.options.choices; index++) {
      if (this.chat) this.delta(index, { role: "assistant", content: "", refusal: null });
      else if (this.options.echoPrompts?.[index]) this.delta(index, { content: this.options.echoPrompts[index] });
    }
    return this;
  }

  /**
   * OpenAI semantics: a streaming client that leaves cancels its request, and so does a revoked key
   * or a deleted account. An expired access token does not: the task runs on, to be fetched with
   * GET /v1/chat/completions/{id} (or /v1/completions/{id}) and a refreshed token.
   */
  closed(ended: { code: string } | undefined, finished: boolean): void {
    if (!finished && ended?.code !== "access_token_expired") void this.deps.taskService.cancel(this.principal, this.taskId).catch(() => undefined);
  }

  status(): void {
    // OpenAI's format has no status frames.
  }

  token(event: Extract<TaskEvent, { type: "token" }>): boolean {
    this.delta(event.choice ?? 0, { content: event.delta });
    return true;
  }

  toolCall(event: Extract<TaskEvent, { type: "tool_call" }>): boolean {
    if (!this.chat) return false;
    this.delta(event.choice, {
      tool_calls: [
        {
          index: event.index,
          ...(event.id ? { id: event.id, type: "function" } : {}),
          function: { ...(event.name ? { name: event.name } : {}), ...(event.arguments !== undefined ? { arguments: event.arguments } : {}) },
        },
      ],
    });
    return true;
  }

  /** Text already sent cannot be taken back: a retried attempt ends this stream with an error. */
  restarted(): boolean {
    this.fail(
      unfinishedTaskError({
        status: "FAILED",
        errorCode: "stream_interrupted",
        errorMessage: `The generation was interrupted and is being retried; fetch the result with GET /v1/${this.chat ? "chat/completions" : "completions"}/${this.base.id}.`,
      }),
    );
    return true;
  }

  final(final: TaskRecord): void {
    if (final.status !== "COMPLETED") return this.fail(unfinishedTaskError(final));
    for (const choice of choicesOf(final)) {
      const last = { index: choice.index, logprobs: null, finish_reason: finishReasonOf(choice) };
      this.chunk(this.chat ? { ...last, delta: {} } : { ...last, text: "" });
    }
    if (this.options.includeUsage) this.sse!.send({ data: { ...this.base, choices: [], usage: usageOf(final) } });
    this.sse!.send({ data: "[DONE]" });
  }

  private chunk(choice: Record<string, unknown>): void {
    this.sse!.send({ data: { ...this.base, choices: [choice], ...(this.options.includeUsage ? { usage: null } : {}) } });
  }

  private delta(index: number, content: Record<string, unknown>): void {
    this.chunk(this.chat ? { index, delta: content, logprobs: null, finish_reason: null } : { index, text: content.content ?? "", logprobs: null, finish_reason: null });
  }

  private fail(error: AppError): void {
    this.sse!.send({ data: openAIErrorBody(error) });
  }
}
