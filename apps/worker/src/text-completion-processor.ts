import {
  type ChatMessage,
  type Logger,
  type ModelConfig,
  type ModelsConfig,
  ProviderError,
  estimatePromptTokens,
  fallbackRefusal,
  storedConfigsSchema,
  toGenerationParams,
} from "@llmq/core";
import { responseUpstreamRequest, upstreamResponseFieldsSchema } from "@llmq/contract";
import { type ServedBy, type TaskOutcome, type TaskProgress, isDatabaseUnavailable } from "@llmq/db";
import type { Attempt, TaskEngine, TaskRef } from "@llmq/engine";
import { type Provider, type ProviderRequest, upstreamFailureOf } from "@llmq/providers";
import { type RequestCopy, type RunQueueUpstreams, type TaskEvent, requestCopySchema, retryDelayMs } from "@llmq/queue";
import { AttemptGate } from "./attempt-gate";
import type { Borrowed } from "./borrowed";
import { ChoiceState } from "./choice-state";
import { Failover, HandBack, LeaseLost, type UpstreamCounters } from "./failover";
import type { UpstreamSlots } from "./upstream-slots";

export interface ProcessorDeps {
  /** Every state change of the attempt goes through the engine (live lists, webhooks, usage and batches are its listeners). */
  engine: Pick<TaskEngine, "tasks" | "events">;
  models: ModelsConfig;
  /** Per served model, its upstreams' providers by upstream name. */
  providers: ReadonlyMap<string, ReadonlyMap<string, Provider>>;
  checkpointIntervalMs: number;
  /**
   * An attempt silent this long since its hold on the task was last confirmed in Postgres (its start, or a
   * checkpoint that saved) confirms it again before it writes another event: long enough and another
   * worker may have taken the task over, and its events must not follow the new attempt's. Half of the
   * shorter of LOCK_DURATION_MS and WORKER_DEAD_AFTER_MS: a takeover needs the lease to lapse (at least
   * two thirds of it after the last confirmation, renewals coming every third) or the heartbeat to be
   * judged dead (at least four fifths of WORKER_DEAD_AFTER_MS after it, beats coming every fifth).
   */
  confirmAfterMs: number;
  logger: Logger;
  /** Per served model: the upstream requests this process may have open at once, every choice of every task counted. */
  upstreamSlots: ReadonlyMap<string, UpstreamSlots>;
  /** The model's upstream capacity and health in its run queue (REPORT after each request, RESERVE to fail over). */
  upstreams(model: ModelConfig): Pick<RunQueueUpstreams, "report" | "reserve">;
  /** Told of each upstream request's outcome and of each failover (worker counters). */
  metrics?: UpstreamCounters;
}

/** Percent shown while running: tokens so far against the budget, never 100 before COMPLETED. */
function runningPercent(tokens: number, budget: number): number {
  return Math.min(99, Math.floor((tokens / budget) * 100));
}

/** Everything an attempt generated, across its choices. */
class AttemptOutput {
  firstTokenAt: Date | null = null;
  /** The choices whose upstream request went out (a choice waiting for a slot sent nothing). */
  private readonly sent = new Set<number>();
  constructor(
    readonly choices: ChoiceState[],
    private readonly tokenBudget: number,
    /** Per choice, its prompt's estimated tokens: charged for a request cut before the upstream reported usage. */
    private readonly promptEstimates: number[],
  ) {}

  /** The choice's request is on its way to the upstream: its prompt is spent even if the answer is cut. */
  markSent(index: number): void {
    this.sent.add(index);
  }

  get tokens(): number {
    return this.choices.reduce((sum, choice) => sum + choice.tokens, 0);
  }

  get percent(): number {
    return runningPercent(this.tokens, this.tokenBudget);
  }

  progress(): TaskProgress {
    return {
      response: this.choices[0]?.text ?? "",
      percent: this.percent,
      completionTokens: this.choices.reduce((sum, choice) => sum + choice.completionTokens, 0),
      firstTokenAt: this.firstTokenAt,
      choices: this.choices.map((choice) => choice.toChoice()),
    };
  }

  outcome(): TaskOutcome {
    // Every choice sent its prompt in a request of its own, and the upstream billed each one.
    const promptTokens = this.choices.reduce<number | null>((sum, choice) => (choice.usage ? (sum ?? 0) + choice.usage.promptTokens : sum), null);
    return { ...this.progress(), percent: 100, promptTokens, finishReason: this.choices[0]?.finishReason ?? "stop" };
  }

  /**
   * What a cancelled attempt used up to the cancel. Upstreams report usage only at the end of a stream,
   * so a request cut before it is charged the prompt's estimate (the one quotas reserve with).
   */
  cancelledOutcome(): Omit<TaskOutcome, "finishReason"> {
    const { finishReason: _unused, ...outcome } = this.outcome();
    const promptTokens = this.choices.reduce<number | null>((sum, choice) => {
      const spent = choice.usage?.promptTokens ?? (this.sent.has(choice.index) ? this.promptEstimates[choice.index]! : null);
      return spent === null ? sum : (sum ?? 0) + spent;
    }, null);
    return { ...outcome, percent: this.percent, promptTokens };
  }
}

/** How long a task waits when Postgres is out of reach before it is tried again. */
export const DATABASE_RETRY_MS = 2_000;

/** Tries a task gets for retryable failures (as BullMQ's `attempts: 5` did). */
export const MAX_TRIES = 5;

/** A task leased from its run queue, as the dispatch loop hands it over. */
export interface LeasedTask {
  taskId: string;
  /** The request copy the run queue carried (JSON), or null: the attempt then reads the row. */
  requestCopy: string | null;
  /** Tries spent by earlier retryable failures. */
  tries: number;
  /** The upstream the run queue reserved for it, or null (leased without upstreams: the model's first). */
  upstream?: string | null;
  /** The dispatch token holding its lease (RESERVE moves the reservation under it). */
  token?: string;
  /** Leased for a borrow: it runs on this fallback model's upstream (the borrow's), not on its own model's. */
  fallback?: Borrowed;
}

/**
 * How an attempt left the task, for the dispatch loop to tell the run queue: `done` (completed, failed,
 * cancelled, or not runnable: settle with the tokens used), `retry` (a retryable failure: back after a
 * backoff, a try spent), `wait` (Postgres out of reach: back after a moment, no try spent).
 */
export type RunOutcome =
  | { kind: "done"; tokens: number; failed: boolean }
  | { kind: "retry"; delayMs: number }
  | { kind: "wait"; delayMs: number }
  /** Handed back: no upstream can serve it soon (paused, open); back in line in its place, no try spent. */
  | { kind: "release" }
  /** The lease was lost while failing over (another worker has the task): nothing more to tell the run queue. */
  | { kind: "lost" }
  /** A borrowed task the fallback cannot serve (a capability it lacks): back in its place, nothing spent, not started. */
  | { kind: "skip"; reason: string };

/**
 * Runs one attempt of a leased completion task (see runAttempt). While Postgres is out of reach the
 * task goes back to wait a moment without spending one of its tries: an outage is nobody's fault, and a
 * ten-second one would otherwise use up every retry and fail tasks that only needed to wait.
 */
export function createTextCompletionProcessor(deps: ProcessorDeps) {
  const runAttempt = createAttemptRunner(deps);
  return async function processTextCompletion(task: LeasedTask, signal?: AbortSignal): Promise<RunOutcome> {
    try {
      return await runAttempt(task, signal);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      deps.logger.warn({ err: error, taskId: task.taskId }, "Postgres is out of reach; the task waits and is tried again without spending an attempt");
      return { kind: "wait", delayMs: DATABASE_RETRY_MS };
    }
  };
}

/** The run queue's copy of a request, or undefined when there is none (or it is unreadable: the row is read instead). */
function copyOf(raw: string | null): RequestCopy | undefined {
  if (raw === null) return undefined;
  try {
    const parsed = requestCopySchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** What an attempt runs: the row's request, or the copy its job carries (see jobCatalog). */
interface AttemptInput {
  model: string;
  messages: unknown;
  configs: unknown;
  runTimeoutMs: number | null;
}

/** Marks an abort because the task's start answered that it may not run (cancelled, finished, expired). */
class NotRunnable extends Error {
  constructor() {
    super("the task may not run");
  }
}

/**
 * One attempt of a completion task, all of its choices at once; the task row decides whether it may run
 * at all. When the job carries a copy of the request, the upstream requests start at once, in parallel
 * with the attempt's start statement, and their tokens wait in an AttemptGate until the attempt number is
 * known: the first token is not held behind a commit, and a task cancelled in that window costs one
 * aborted upstream request.
 */
function createAttemptRunner(deps: ProcessorDeps) {
  return async function runAttempt(task: LeasedTask, signal?: AbortSignal): Promise<RunOutcome> {
    const { taskId } = task;
    const copy = copyOf(task.requestCopy);
    const borrowed = task.fallback;
    // A borrowed task whose request the fallback cannot honour goes back before it starts (its copy says).
    if (borrowed && copy) {
      const stored = storedConfigsSchema.safeParse(copy.configs);
      const refusal = stored.success ? fallbackRefusal(borrowed.fallback, stored.data) : null;
      if (refusal) return { kind: "skip", reason: refusal };
    }
    // What the run queue settles the tenant's share with: every token the attempt used (estimates for cut requests).
    let tokensUsed = () => 0;
    // `failed`: this attempt failed the task (metrics count it as an error, as a retry).
    const done = (failed = false): RunOutcome => ({ kind: "done", tokens: tokensUsed(), failed });
    const { tasks: transitions, events } = deps.engine;
    // Cancelled or finished: nothing to do. Never started and past its queue deadline: the engine expires it.
    const runsCopy = copy !== undefined && deps.providers.has(copy.model);
    // Tokens that arrived before the start committed go out with its RUNNING event, in one append.
    let release: ((attempt: number) => TaskEvent[]) | undefined;
    // When the attempt's hold on the task was last confirmed (a fenced statement sent then succeeded).
    let confirmedAt = Date.now();
    const starting = transitions.start(taskId, { withRequest: !runsCopy, heldEvents: (attempt) => release?.(attempt) ?? [] });
    let input: AttemptInput;
    if (runsCopy) input = copy;
    else {
      const start = await starting;
      if (start.kind !== "started") return done();
      input = start.attempt;
    }
    const logger = deps.logger.child({ taskId });

    const configs = storedConfigsSchema.parse(input.configs);
    const model = deps.models.byId.get(input.model);
    // Where it runs: its own model's upstreams, or the fallback's it borrowed (the local slots stay its model's).
    const runModel = borrowed ? borrowed.fallback : model;
    const providers = runModel && deps.providers.get(runModel.id);
    const slots = model && deps.upstreamSlots.get(model.id);
    if (!model || !runModel || !providers || providers.size === 0 || !slots) {
      const start = await starting;
      if (start.kind !== "started") return done();
      await transitions.fail(start.attempt.ref, start.attempt.attempt, { code: "model_not_served", message: `model ${input.model} is not configured on this worker` });
      return done(true);
    }

    if (borrowed) {
      // Read from the row (no copy): started already, so the attempt is taken back (no try spent).
      const refusal = fallbackRefusal(borrowed.fallback, configs);
      if (refusal) {
        const start = await starting;
        if (start.kind !== "started") return done();
        await transitions.release(start.attempt.ref, start.attempt.attempt);
        return { kind: "skip", reason: refusal };
      }
    }

    // One request per choice: legacy completions may hold several prompts, and `n` choices each.
    const params = toGenerationParams(configs);
    // A cap the caller left to the model is the fallback's own when it runs there.
    if (borrowed && params.maxTokens > borrowed.fallback.maxTokens) params.maxTokens = borrowed.fallback.maxTokens;
    const inputs: Pick<ProviderRequest, "messages" | "prompt">[] = configs.prompts
      ? configs.prompts.map((prompt) => ({ messages: [{ role: "user", content: prompt }], prompt }))
      : [{ messages: input.messages as ChatMessage[] }];
    // A Responses API task also carries its request in that API's fields, for upstreams that speak it
    // (the messages and params say the same for the others).
    const responses = responsesFields(input.messages as ChatMessage[], configs.responses, logger);
    const requests: ProviderRequest[] = inputs.flatMap((one) =>
      Array.from({ length: configs.n }, (_, choice) => ({
        model: runModel.upstreamModel,
        ...one,
        choice,
        params,
        ...(responses ? { responses } : {}),
        // Nobody reads its pieces as they come: the upstream may answer it whole.
        ...(configs.whole_answer === true ? { whole: true } : {}),
      })),
    );
    const output = new AttemptOutput(
      requests.map((_, index) => new ChoiceState(index, configs.keep_pieces === true)),
      configs.max_tokens * requests.length,
      requests.map((request) => estimatePromptTokens(request.messages)),
    );

    // Our own controller too: a fenced-off attempt, one failed choice, or a task that may not run stops every request.
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    // Events the task's stream refuses (it ended, or a newer attempt is in it: this one was fenced off
    // between its last confirmation and the write) stop the attempt, as a refused checkpoint does.
    const gate = new AttemptGate(
      starting,
      (held) => events.pushQuietly(taskId, held, () => abort.abort(new Error("the task's event stream refused this attempt's events (it ended, or another attempt took over)"))),
      () => abort.abort(new NotRunnable()),
    );
    release = (attempt) => gate.release(attempt);
    const runTimeoutMs = input.runTimeoutMs;
    const runTimeout = runTimeoutMs ? setTimeout(() => abort.abort(new RunTimedOut(runTimeoutMs)), runTimeoutMs) : undefined;
    const runDeadline = runTimeoutMs ? Date.now() + runTimeoutMs : Infinity;
    // A borrowed task reports to the fallback's upstreams and fails over by borrowing again (Borrowed).
    const failover = new Failover(
      { queue: borrowed ?? deps.upstreams(model), pauseHoldMaxMs: deps.models.scheduling.pauseHoldMaxMs, metrics: deps.metrics, handBackWhenExhausted: borrowed !== undefined },
      runModel,
      borrowed ? { taskId, upstream: borrowed.upstream, token: "borrowed" } : task,
      abort.signal,
      runDeadline,
      logger,
    );
    let lastCheckpoint = Date.now();
    let checkpointing: Promise<void> | null = null;
    const saveProgress = (attempt: Attempt): Promise<void> => {
      const sentAt = Date.now();
      lastCheckpoint = sentAt;
      checkpointing = (async () => {
        if (await transitions.checkpoint(attempt.ref, attempt.attempt, output.progress())) confirmedAt = sentAt;
        else abort.abort(new Error("task left RUNNING for this attempt (cancelled or taken over)"));
      })().finally(() => (checkpointing = null));
      return checkpointing;
    };
    const checkpoint = async () => {
      const attempt = gate.known;
      if (!attempt || checkpointing || Date.now() - lastCheckpoint < deps.checkpointIntervalMs) return;
      await saveProgress(attempt);
    };
    /**
     * Before an event after a long silence (a paused process, a stalled upstream): a checkpoint first, so
     * an attempt that was taken over meanwhile is stopped by its fence instead of writing after the new one.
     */
    const stillHeld = async (): Promise<boolean> => {
      const attempt = gate.known;
      while (attempt && !abort.signal.aborted && Date.now() - confirmedAt > deps.confirmAfterMs) await (checkpointing ?? saveProgress(attempt));
      return !abort.signal.aborted;
    };

    // Each choice runs on an upstream; before its first token, a failure of the upstream (connection,
    // timeout, 5xx, 429, quota) moves it to another (see Failover): nothing was emitted, no try is spent.
    const runChoice = async (request: ProviderRequest, state: ChoiceState) => {
      let upstream = failover.initial;
      for (;;) {
        const release = await slots.acquire(taskId, abort.signal);
        const started = Date.now();
        let firstAt: number | null = null;
        try {
          output.markSent(state.index);
          await streamChoice({ ...request, model: failover.upstreamModel(upstream) }, state, providers.get(upstream)!, () => (firstAt ??= Date.now()));
          // Time to the first token, or the whole request when nothing streamed. Sent now (so the run queue
          // hears it before the settle, on the same connection) but not waited for: its reply changes
          // nothing this attempt does next, and the completion would wait a Redis round trip for it.
          failover.reportBeside(upstream, { kind: "ok", latencyMs: (firstAt ?? Date.now()) - started });
          return;
        } catch (error) {
          if (abort.signal.aborted) throw error;
          const failure = upstreamFailureOf(error);
          if (failure) await failover.report(upstream, failure);
          // After the first token, or a failure that is the request's own (400, 401, protocol): today's rules.
          if (firstAt !== null || !failure) throw error;
          const next = await failover.next(state.index, upstream, failure, error);
          deps.metrics?.failover(runModel.id, upstream, next);
          if (state.index === 0) failover.servedBy = next;
          logger.info({ choice: state.index, from: upstream, to: next, failure: failure.kind }, "upstream failed before the first token; the request goes on another upstream");
          upstream = next;
        } finally {
          release();
        }
      }
    };
    const streamChoice = async (request: ProviderRequest, state: ChoiceState, provider: Provider, onFirst: () => void) => {
      for await (const event of provider.stream(request, abort.signal)) {
        onFirst();
        // Before the piece joins the output: refused, it is neither written as an event nor kept on the row.
        if (event.type !== "done" && !(await stillHeld())) break;
        state.apply(event);
        if (event.type === "done") break;
        output.firstTokenAt ??= new Date();
        const choice = state.index;
        if (event.type === "delta") {
          const { tokens, percent } = output;
          gate.emit((attempt) => ({ type: "token", attempt, choice, delta: event.text, tokens, percent }));
        } else {
          const { index, id, name, arguments: args } = event;
          gate.emit((attempt) => ({ type: "tool_call", attempt, choice, index, id, name, arguments: args }));
        }
        await checkpoint();
        if (abort.signal.aborted) break;
      }
    };

    let attempt: Attempt | null = null;
    tokensUsed = () => {
      const used = output.cancelledOutcome();
      return (used.promptTokens ?? 0) + used.completionTokens;
    };
    try {
      await Promise.all(
        requests.map((request, index) =>
          runChoice(request, output.choices[index]!).catch((error: unknown) => {
            if (!abort.signal.aborted) abort.abort(new ChoiceFailed(error));
            throw error;
          }),
        ),
      );
      attempt = await gate.settled;
      if (!attempt) return done();
      if (abort.signal.aborted) throw abort.signal.reason ?? new Error("aborted");
      // Refused: cancelled while the last tokens came in. The cancel stands; what was generated is kept.
      if (!(await transitions.complete(attempt.ref, attempt.attempt, { ...output.outcome(), ...failover.served() }))) await transitions.keepCancelledOutput(attempt.ref, attempt.attempt, output.cancelledOutcome());
      return done();
    } catch (caught) {
      // Every later step needs the attempt: a failure while its start was still on its way waits for it.
      attempt ??= await gate.settled;
      const reason: unknown = abort.signal.reason;
      if (!attempt || reason instanceof NotRunnable) return done();
      const log = logger.child({ attempt: attempt.attempt });
      // What the attempt streamed stays on the failed row (a response's replay is cut from it).
      const keepOutput = async () => {
        if (output.tokens > 0) await transitions.checkpoint(attempt!.ref, attempt!.attempt, output.progress());
      };
      if (reason instanceof RunTimedOut) {
        await keepOutput();
        await transitions.fail(attempt.ref, attempt.attempt, { code: "run_timeout", message: reason.message }, attempt.attempt, failover.served());
        return done(true);
      }
      if (abort.signal.aborted && !(reason instanceof ChoiceFailed)) {
        // Cancelled (or fenced off): keep what was generated if the task was cancelled under us.
        await transitions.keepCancelledOutput(attempt.ref, attempt.attempt, output.cancelledOutcome());
        log.info("attempt stopped: task cancelled or taken over");
        return done();
      }
      const error = reason instanceof ChoiceFailed ? reason.error : caught;
      if (error instanceof LeaseLost) {
        log.info("the lease was lost while failing over; the task is another worker's now");
        return { kind: "lost" };
      }
      if (error instanceof HandBack) {
        // Nothing emitted: the attempt is taken back and the task waits in its place, no try spent.
        if (output.tokens === 0) {
          log.info({ failure: error.failure.kind }, "no upstream can serve the task soon; handed back to its queue, no try spent");
          await transitions.release(attempt.ref, attempt.attempt);
          return { kind: "release" };
        }
        // Another choice streamed already: today's rules for the upstream's error.
        const retryIn = await handleFailure(deps, task, attempt.ref, attempt.attempt, error.cause, log, keepOutput, failover.served());
        return retryIn === null ? done(true) : { kind: "retry", delayMs: retryIn };
      }
      const retryIn = await handleFailure(deps, task, attempt.ref, attempt.attempt, error, log, keepOutput, failover.served());
      return retryIn === null ? done(true) : { kind: "retry", delayMs: retryIn };
    } finally {
      clearTimeout(runTimeout);
      signal?.removeEventListener("abort", onAbort);
    }
  };
}

/** A Responses API task's request in that API's own fields; undefined for other tasks, or (logged) stored fields we cannot read. */
function responsesFields(messages: ChatMessage[], stored: unknown, logger: Logger): Record<string, unknown> | undefined {
  if (stored === undefined) return undefined;
  const fields = upstreamResponseFieldsSchema.safeParse(stored);
  if (fields.success) return responseUpstreamRequest(messages, fields.data);
  logger.warn({ err: fields.error }, "a response task's stored request is not readable; it goes to the upstream as a chat completion");
  return undefined;
}

/** Marks an abort caused by the task's own run timeout: it fails, without retry (another attempt would take as long). */
class RunTimedOut extends Error {
  constructor(readonly timeoutMs: number) {
    super(`The task ran longer than its timeout (${timeoutMs / 1000} s, timeout_seconds).`);
  }
}

/** Marks an abort caused by one choice's failure, so it is not mistaken for a cancellation. */
class ChoiceFailed extends Error {
  constructor(readonly error: unknown) {
    super("another choice of this task failed");
  }
}

/**
 * Retryable provider failures go back to PENDING and resolve to the backoff before the next try (the
 * upstream's Retry-After when it gave one); everything else fails the task, keeping what it streamed (null).
 */
async function handleFailure(
  deps: ProcessorDeps,
  task: LeasedTask,
  ref: TaskRef,
  attempt: number,
  error: unknown,
  logger: Logger,
  keepOutput: () => Promise<void>,
  served: ServedBy,
): Promise<number | null> {
  // Not the task's failure: the caller puts the task back to wait for Postgres.
  if (isDatabaseUnavailable(error)) throw error;
  const providerError = error instanceof ProviderError ? error : null;
  const summary = providerError
    ? { code: providerError.code, message: providerError.message }
    : { code: "internal_error", message: "the worker failed while running this task" };
  const moreAttempts = task.tries + 1 < MAX_TRIES;
  if (providerError?.retryable && moreAttempts) {
    logger.warn({ err: error }, "retryable provider failure; the task will be retried");
    await deps.engine.tasks.retry(ref, attempt, summary);
    return retryDelayMs(task.tries + 1, providerError.retryAfterMs ?? null);
  }
  if (providerError) logger.warn({ err: error }, "task failed");
  else logger.error({ err: error }, "task failed with an unexpected error");
  await keepOutput();
  await deps.engine.tasks.fail(ref, attempt, summary, attempt, served);
  return null;
}
