import { isFinal, responseIdOf } from "@llmq/core";
import { type ResponseEnd, ResponseEventSequencer, type ResponseObject, type ResponseSequencerOptions, type ResponseStreamEvent } from "@llmq/contract";
import type { TaskRecord } from "@llmq/db";
import type { TaskEvent } from "@llmq/queue";
import type { Request, Response } from "express";
import { type Principal, principalOf } from "../http/principal";
import type { SseStream } from "../http/sse";
import { type TaskEventFormat, type TaskRelayDeps, relayTask } from "../http/task-relay";
import { choicesOf } from "../openai/format";
import { functionCallItemId, messageItemId, responseObject, storedRequestOf } from "./format";

export interface ResponseStreamOptions {
  /** Send only events with a larger sequence number (`starting_after`); -1 for all. */
  startingAfter: number;
  /** Whether the client leaving cancels the response (a non-background `stream: true` create). */
  cancelOnClose: boolean;
  /** Pad delta events with `obfuscation` (`stream_options.include_obfuscation`, `include_obfuscation=true`). */
  obfuscate?: boolean;
}

/**
 * Streams a response as OpenAI's Responses events (`response.created` ... `response.completed`), each
 * with its `sequence_number`; the same events and numbers on every replay, from any API process, for as
 * long as the response is kept, whether or not it was created with `stream: true`.
 *
 * A response still running is followed on its task's event stream (the relay), counting only the output
 * of the attempt its row is on; its end is rendered from the row, which fills in anything the live
 * stream missed. A finished response is rendered from its row alone (Choice.pieces): its Redis event
 * stream, which expires an hour after the end, is not needed. A response cancelled while it ran is ended
 * once its worker has kept what the attempt generated (bounded: CANCELLED_OUTPUT_WAIT_MS after the
 * cancel), so its live end is its replay's: the same deltas, text, usage and sequence numbers.
 */
export function streamResponse(req: Request, res: Response, task: TaskRecord, deps: TaskRelayDeps, options: ResponseStreamOptions): void {
  const events = new ResponseEvents(task, deps, principalOf(req), options);
  relayTask(res, deps, { viewer: events.principal, task, afterId: "0", replayEnded: false, awaitCancelledOutput: true, onClose: events.closed.bind(events) }, (sse) => events.start(sse));
}

/** A response's row as it ended, for the sequencer. */
function endOf(task: TaskRecord): ResponseEnd {
  const choice = choicesOf(task)[0]!;
  return { response: responseObject(task), ran: task.attempts > 0, text: choice.text, toolCalls: choice.toolCalls, pieces: choice.pieces };
}

/**
 * One stream's events, and the sequencer's options (methods, not closures: memory per open stream, see
 * SseResponse). It keeps the two response objects of the stream's start (queued, in progress: the row as
 * it stood then, with no output), never the row itself.
 */
class ResponseEvents implements TaskEventFormat, ResponseSequencerOptions {
  readonly background: boolean;
  readonly messageItemId: string;
  readonly obfuscate: boolean;
  private readonly taskId: string;
  /** Output of attempts older than this one is not the response's any more (the row has moved on). */
  private readonly attempt: number;
  private readonly queued: ResponseObject;
  private readonly inProgress: ResponseObject;
  private readonly sequencer: ResponseEventSequencer;
  private sse: SseStream | null = null;
  private interrupted = false;

  constructor(
    task: TaskRecord,
    private readonly deps: TaskRelayDeps,
    readonly principal: Principal,
    private readonly options: ResponseStreamOptions,
  ) {
    this.taskId = task.id;
    this.background = storedRequestOf(task).background;
    this.messageItemId = messageItemId(task.id);
    this.obfuscate = options.obfuscate === true;
    // A task back in line after a failed attempt runs its next one.
    this.attempt = task.status === "PENDING" && task.attempts > 0 ? task.attempts + 1 : task.attempts;
    const before = { ...task, choices: null, response: "", finishReason: null, promptTokens: null, completionTokens: 0 };
    this.queued = responseObject({ ...before, status: "PENDING" });
    this.inProgress = responseObject({ ...before, status: "RUNNING" });
    this.sequencer = new ResponseEventSequencer(this);
  }

  functionCallItemId(index: number): string {
    return functionCallItemId(this.taskId, index);
  }

  snapshot(status: "queued" | "in_progress"): ResponseObject {
    return status === "queued" ? this.queued : this.inProgress;
  }

  start(sse: SseStream): TaskEventFormat {
    this.sse = sse;
    this.send(this.sequencer.begin());
    return this;
  }

  /**
   * OpenAI semantics: a non-background streaming response whose client leaves is cancelled (as chat
   * completions are), unless the stream ended because its credential's access token expired or because
   * it told the client to read it again; a background one runs on, to be resumed later.
   */
  closed(ended: { code: string } | undefined, finished: boolean): void {
    if (!this.options.cancelOnClose || finished || this.interrupted || ended?.code === "access_token_expired") return;
    void this.deps.taskService.cancel(this.principal, this.taskId).catch(() => undefined);
  }

  status(event: Extract<TaskEvent, { type: "status" }>): void {
    if (event.status === "RUNNING") this.send(this.sequencer.inProgress());
  }

  token(event: Extract<TaskEvent, { type: "token" }>): boolean {
    if ((event.choice ?? 0) !== 0 || event.attempt < this.attempt) return false;
    this.send(this.sequencer.text(event.delta));
    return true;
  }

  toolCall(event: Extract<TaskEvent, { type: "tool_call" }>): boolean {
    if (event.choice !== 0 || event.attempt < this.attempt) return false;
    this.send(this.sequencer.toolCall(event.index, event.id, event.name, event.arguments));
    return true;
  }

  /** Output already sent belongs to an attempt that is being retried: the client reads the response again from 0. */
  restarted(): boolean {
    this.interrupted = true;
    const id = responseIdOf(this.taskId);
    this.send(
      this.sequencer.interrupted(
        "stream_interrupted",
        `The response is being retried after its output began to stream; read it again from the start (GET /v1/responses/${id}?stream=true, without starting_after).`,
      ),
    );
    return true;
  }

  /** The response ended (or following it failed while it runs: then the client resumes after the last event it got). */
  final(task: TaskRecord): void {
    if (isFinal(task.status)) return this.send(this.sequencer.end(endOf(task)));
    const id = responseIdOf(this.taskId);
    const last = Math.max(this.sequencer.nextSequenceNumber - 1, this.options.startingAfter);
    const resume = `GET /v1/responses/${id}?stream=true${last >= 0 ? `&starting_after=${last}` : ""}`;
    this.send(this.sequencer.interrupted("stream_interrupted", `The event stream was interrupted; resume it with ${resume}.`));
  }

  private send(events: ResponseStreamEvent[]): void {
    for (const event of events) {
      // An error is news whatever the client has seen already.
      if (event.sequence_number > this.options.startingAfter || event.type === "error") this.sse!.send({ event: event.type, data: event });
    }
  }
}
