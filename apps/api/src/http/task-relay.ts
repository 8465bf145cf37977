import { type AppError, assertNever, isFinal } from "@llmq/core";
import type { TaskRecord } from "@llmq/db";
import type { TaskEvent, TaskEventEntry, TaskEventHub, TaskEventLog } from "@llmq/queue";
import type { Response } from "express";
import type { StreamGuard } from "../auth/stream-guard";
import type { TaskService } from "../services/task-service";
import type { Principal } from "./principal";
import { type SseOptions, type SseStream, openSse } from "./sse";

type EventOf<T extends TaskEvent["type"]> = Extract<TaskEvent, { type: T }>;

/**
 * A follower from the start is shown a task's PENDING status first, which its stream does not hold: a
 * task's stream is opened by its first event after PENDING (RUNNING, or its end). (A stream written
 * before that rule began with PENDING; it is then not shown twice.) An ended task whose stream
 * has expired altogether is answered with its result alone, as before. The id sorts before every real
 * entry, so a client that resumes after it reads the whole stream.
 */
const OPENING: TaskEventEntry = { id: "0-1", event: { type: "status", status: "PENDING", attempt: 0 } };

/** Entries replayed from a task's event stream when it has ended already (then the result from Postgres). */
const REPLAY_MAX_ENTRIES = 20_000;
/** A task that ended this recently may not have its last events in the log yet (the engine appends them after its commit). */
const LAST_EVENTS_WINDOW_MS = 10_000;
/** How long a stream waits for those last events before it ends with the task as read again (a writer that died between the two). */
const LAST_EVENTS_WAIT_MS = 2_000;
/**
 * Past this much written and not yet taken by the client's socket, the relay stops reading the task's
 * events and waits for the socket to drain, then reads on from the event stream where it stopped: a
 * replay (a late subscriber, a Last-Event-ID resume) goes at the reader's pace, and the API holds at most
 * about this much per stream, however far behind the reader is (sse.ts cuts at 4 MiB as a last resort).
 */
const PAUSE_UNSENT_BYTES = 1024 * 1024;

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
  /**
   * A task that has ended already: replay its leftover events before its result (default), or answer
   * its result alone (a dialect that renders the whole stream from the row, as the Responses API does).
   */
  replayEnded?: boolean;
  /**
   * A task cancelled while it ran ends once its worker has recorded the attempt's output on the row
   * (its `output_kept` event; TaskService.withKeptOutput), at most the service's `cancelledOutputWaitMs`
   * after the cancel: a dialect that renders the end from the row then ends as a later replay does.
   * Otherwise (default) it ends at its final event.
   */
  awaitCancelledOutput?: boolean;
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
  new TaskRelay(res, deps, options).start(formatOf, options);
}

/**
 * One client's follower. It keeps only what it needs, never the task row (its messages and configs),
 * and is a class with anonymous callbacks rather than a set of named closures (see SseResponse): both
 * count in the memory per open stream.
 */
class TaskRelay implements SseOptions {
  readonly guard: StreamGuard;
  readonly principal: Principal;
  readonly needsAdmin: boolean;
  private readonly taskId: string;
  private readonly onClosed: TaskRelayOptions["onClose"];
  private readonly awaitCancelledOutput: boolean;
  /** Set once the final event said the cancelled attempt's output is still to be kept: the end comes at the latest then. */
  private keptOutputTimer: NodeJS.Timeout | null = null;
  /** Set while an ended task's last events are awaited (followLastEvents). */
  private lastEventsTimer: NodeJS.Timeout | null = null;
  private sse: SseStream | null = null;
  private format: TaskEventFormat | null = null;
  private finished = false;
  private attempt = 0;
  private shown = false;
  private unsubscribe: (() => void) | null = null;
  /** Waiting for the client to take what it was sent: where to read on from, and how (live or an ended task's replay). */
  private paused: { afterId: string; ended: boolean; timer: NodeJS.Timeout } | null = null;
  /** When the task ended, for an ended task's replay (its last events may still be on their way). */
  private endedAt = 0;
  /** The id of the last event handled (sent, or dropped as a fenced-off attempt's): where a pause reads on from. */
  private lastHandled = "0";
  /** Following from the start, and nothing delivered yet: the first delivery opens with PENDING (OPENING). */
  private opening = false;

  constructor(
    private readonly res: Response,
    private readonly deps: TaskRelayDeps,
    options: TaskRelayOptions,
  ) {
    this.guard = deps.streamGuard;
    this.principal = options.viewer;
    // Another owner's task is the admin's to follow: the stream ends if the role goes.
    this.needsAdmin = options.task.ownerId !== options.viewer.userId;
    this.taskId = options.task.id;
    this.onClosed = options.onClose;
    this.awaitCancelledOutput = options.awaitCancelledOutput === true;
  }

  start(formatOf: (sse: SseStream) => TaskEventFormat, options: TaskRelayOptions): void {
    const { status } = options.task;
    const afterId = options.afterId;
    const replayEnded = options.replayEnded ?? true;
    this.lastHandled = afterId;
    this.opening = afterId === "0";
    const sse = openSse(this.res, this);
    if (sse.closed) return; // the client left before the stream opened: nothing to follow
    this.sse = sse;
    this.format = formatOf(sse);
    if (isFinal(status) && !replayEnded) {
      if (!this.awaitCancelledOutput) return this.end();
      // Cancelled a moment ago while it ran: its row is final once the worker has kept the attempt's output.
      void this.deps.taskService
        .withKeptOutput(this.principal, options.task)
        .catch(() => undefined)
        .then(() => this.end());
      return;
    }
    if (isFinal(status)) {
      this.endedAt = options.task.completedAt?.getTime() ?? 0;
      return this.replayEnded(afterId);
    }
    this.follow(afterId);
  }

  /** An ended task: its events after `afterId` from the log, then its result. */
  private replayEnded(afterId: string): void {
    void this.deps.log.readAfter(this.taskId, afterId, REPLAY_MAX_ENTRIES).then(
      (entries) => {
        if (this.finished || this.sse!.closed) return;
        this.deliver(
          entries.filter((entry) => entry.event.type !== "final"),
          true,
        );
        if (this.finished || this.paused) return;
        // The engine appends a task's last events just after the commit that ended it: a stream opened in
        // between follows them, briefly, rather than end without its final status.
        if (!entries.some((entry) => entry.event.type === "final") && Date.now() - this.endedAt < LAST_EVENTS_WINDOW_MS) {
          this.followLastEvents(entries.at(-1)?.id ?? afterId);
        } else this.end();
      },
      () => this.end(),
    );
  }

  /** The task's events after `afterId` (read from its stream), then each new one. */
  private follow(afterId: string): void {
    this.unsubscribe = this.deps.hub.subscribe(
      this.taskId,
      afterId,
      (entries) => this.deliver(entries, false),
      () => this.end(),
    );
  }

  /** Follows an ended task's last events from `afterId` until its `final` one, at most LAST_EVENTS_WAIT_MS. */
  private followLastEvents(afterId: string): void {
    this.lastEventsTimer = setTimeout(() => this.end(), LAST_EVENTS_WAIT_MS);
    this.follow(afterId);
  }

  /**
   * The client has not taken what it was sent: stop reading events (after `afterId`, the last one handled)
   * until its socket drains, then read on from there. A client that takes nothing for the stream guard's
   * `stalledReaderMs` is let go; it resumes with Last-Event-ID and loses nothing.
   */
  private pause(afterId: string, ended: boolean): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    const timer = setTimeout(() => this.sse!.close(), this.guard.stalledReaderMs);
    this.paused = { afterId, ended, timer };
    this.res.once("drain", () => this.resume());
  }

  private resume(): void {
    const paused = this.paused;
    if (!paused) return;
    clearTimeout(paused.timer);
    this.paused = null;
    if (this.finished || this.sse!.closed) return;
    if (paused.ended) this.replayEnded(paused.afterId);
    else this.follow(paused.afterId);
  }

  /** The SSE stream closed (SseOptions). */
  onClose(ended?: AppError): void {
    this.unsubscribe?.();
    if (this.keptOutputTimer) clearTimeout(this.keptOutputTimer);
    if (this.lastEventsTimer) clearTimeout(this.lastEventsTimer);
    if (this.paused) clearTimeout(this.paused.timer);
    this.onClosed?.(ended, this.finished);
  }

  /** Sends each entry in the dialect's format; stops (pause) when the client falls PAUSE_UNSENT_BYTES behind. `ended`: an ended task's replay. */
  private deliver(entries: TaskEventEntry[], ended: boolean): void {
    const format = this.format!;
    if (this.opening) {
      this.opening = false;
      const first = entries[0]?.event;
      // An ended task whose stream has expired is answered with its result alone.
      if ((entries.length > 0 || !ended) && (first?.type !== "status" || first.status !== "PENDING")) entries = [OPENING, ...entries];
    }
    for (const { id, event } of entries) {
      if (this.finished || this.paused) return;
      if (this.sse!.unsent > PAUSE_UNSENT_BYTES) return this.pause(this.lastHandled, ended);
      this.lastHandled = id;
      switch (event.type) {
        case "status":
          if (event.status === "RUNNING" && event.attempt > this.attempt) {
            if (this.shown && format.restarted?.(event.attempt)) {
              this.stop();
              this.sse!.close();
              return;
            }
            this.attempt = event.attempt;
          }
          format.status(event, id);
          break;
        case "token":
          if (event.attempt < this.attempt) break; // a fenced-off attempt still writing
          this.attempt = event.attempt;
          if (format.token(event, id)) this.shown = true;
          break;
        case "tool_call":
          if (event.attempt < this.attempt) break;
          this.attempt = event.attempt;
          if (format.toolCall(event, id)) this.shown = true;
          break;
        case "final":
          if (this.awaitCancelledOutput && event.outputPending === true) {
            // Its worker is stopping the attempt and records what it generated (late tokens may come first).
            this.keptOutputTimer ??= setTimeout(() => this.end(), this.deps.taskService.cancelledOutputWaitMs);
            break;
          }
          this.end();
          return;
        case "output_kept":
          if (this.keptOutputTimer === null) break;
          this.end();
          return;
        default:
          assertNever(event);
      }
    }
  }

  private stop(): void {
    this.finished = true;
    this.unsubscribe?.();
    if (this.keptOutputTimer) clearTimeout(this.keptOutputTimer);
    if (this.lastEventsTimer) clearTimeout(this.lastEventsTimer);
  }

  private end(): void {
    this.finish().catch(() => this.sse!.close());
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.stop();
    this.format!.final(await this.deps.taskService.get(this.principal, this.taskId));
    this.sse!.close();
  }
}
