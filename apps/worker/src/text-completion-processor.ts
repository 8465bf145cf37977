import {
  type ChatMessage,
  type FinishReason,
  type Logger,
  type ModelsConfig,
  ProviderError,
  type Usage,
  storedConfigsSchema,
  toGenerationParams,
} from "@llmq/core";
import type { TaskRepository } from "@llmq/db";
import type { Provider } from "@llmq/providers";
import { type TaskEventLog, jobCatalog } from "@llmq/queue";
import { type Job, UnrecoverableError } from "bullmq";
import { EventRelay } from "./event-relay";

export interface ProcessorDeps {
  tasks: TaskRepository;
  events: TaskEventLog;
  models: ModelsConfig;
  providers: ReadonlyMap<string, Provider>;
  checkpointIntervalMs: number;
  logger: Logger;
}

interface Generated {
  text: string;
  tokens: number;
  firstTokenAt: Date | null;
  finishReason: FinishReason | null;
  usage: Usage | null;
}

/** Percent shown while running: tokens so far against the budget, never 100 before COMPLETED. */
function runningPercent(tokens: number, maxTokens: number): number {
  return Math.min(99, Math.floor((tokens / maxTokens) * 100));
}

/** Runs one attempt of a text-completion task; the task row decides whether it may run at all. */
export function createTextCompletionProcessor(deps: ProcessorDeps) {
  return async function processTextCompletion(job: Job, _token?: string, signal?: AbortSignal): Promise<void> {
    const { taskId } = jobCatalog["text-completion"].payload.parse(job.data);
    const started = await deps.tasks.startAttempt(taskId);
    if (!started) return; // cancelled, expired or finished: nothing to run
    const { attempt } = started;
    const logger = deps.logger.child({ taskId, attempt });
    const relay = new EventRelay(deps.events, taskId, logger);
    relay.push({ type: "status", status: "RUNNING", attempt });

    const configs = storedConfigsSchema.parse(started.configs);
    const model = deps.models.byId.get(started.model);
    const provider = model && deps.providers.get(model.id);
    if (!model || !provider) {
      await finishFailed(deps, relay, taskId, attempt, { code: "model_not_served", message: `model ${started.model} is not configured on this worker` });
      throw new UnrecoverableError(`model ${started.model} is not configured`);
    }

    // Our own controller too: a fenced-off attempt aborts its upstream request itself.
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const generated: Generated = { text: "", tokens: 0, firstTokenAt: null, finishReason: null, usage: null };
    let lastCheckpoint = Date.now();
    try {
      const stream = provider.stream(
        { model: model.upstreamModel, messages: started.messages as ChatMessage[], params: toGenerationParams(configs) },
        abort.signal,
      );
      for await (const event of stream) {
        if (event.type === "done") {
          generated.finishReason = event.finishReason;
          generated.usage = event.usage;
          break;
        }
        generated.text += event.text;
        generated.tokens += 1;
        generated.firstTokenAt ??= new Date();
        const percent = runningPercent(generated.tokens, configs.max_tokens);
        relay.push({ type: "token", attempt, delta: event.text, tokens: generated.tokens, percent });
        if (Date.now() - lastCheckpoint >= deps.checkpointIntervalMs) {
          lastCheckpoint = Date.now();
          const progress = { response: generated.text, percent, completionTokens: generated.tokens, firstTokenAt: generated.firstTokenAt };
          if (!(await deps.tasks.checkpoint(taskId, attempt, progress))) {
            abort.abort(new Error("task left RUNNING for this attempt (cancelled or taken over)"));
            break;
          }
        }
      }
      if (abort.signal.aborted) throw abort.signal.reason ?? new Error("aborted");
      const outcome = {
        response: generated.text,
        percent: 100,
        completionTokens: generated.usage?.completionTokens ?? generated.tokens,
        promptTokens: generated.usage?.promptTokens ?? null,
        firstTokenAt: generated.firstTokenAt,
        finishReason: generated.finishReason ?? "stop",
      };
      if (await deps.tasks.complete(taskId, attempt, outcome)) {
        relay.push({ type: "status", status: "COMPLETED", attempt });
        relay.push({ type: "final", status: "COMPLETED" });
      } else {
        await keepCancelledOutput(deps, taskId, attempt, generated, configs.max_tokens);
      }
      await relay.flush();
    } catch (error) {
      await relay.flush();
      if (abort.signal.aborted) {
        // Cancelled (or fenced off): keep what was generated if the task was cancelled under us.
        await keepCancelledOutput(deps, taskId, attempt, generated, configs.max_tokens);
        logger.info("attempt stopped: task cancelled or taken over");
        return;
      }
      await handleFailure(deps, relay, job, taskId, attempt, error, logger);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  };
}

async function keepCancelledOutput(deps: ProcessorDeps, taskId: string, attempt: number, generated: Generated, maxTokens: number): Promise<void> {
  await deps.tasks.recordCancelledOutput(taskId, attempt, {
    response: generated.text,
    percent: runningPercent(generated.tokens, maxTokens),
    completionTokens: generated.usage?.completionTokens ?? generated.tokens,
    promptTokens: generated.usage?.promptTokens ?? null,
    firstTokenAt: generated.firstTokenAt,
  });
}

async function finishFailed(
  deps: ProcessorDeps,
  relay: EventRelay,
  taskId: string,
  attempt: number,
  error: { code: string; message: string },
): Promise<void> {
  if (await deps.tasks.fail(taskId, attempt, error)) {
    relay.push({ type: "status", status: "FAILED", attempt, error });
    relay.push({ type: "final", status: "FAILED" });
  }
  await relay.flush();
}

/** Retryable provider failures go back to PENDING for BullMQ's backoff; everything else fails the task. */
async function handleFailure(
  deps: ProcessorDeps,
  relay: EventRelay,
  job: Job,
  taskId: string,
  attempt: number,
  error: unknown,
  logger: Logger,
): Promise<never> {
  const providerError = error instanceof ProviderError ? error : null;
  const summary = providerError
    ? { code: providerError.code, message: providerError.message }
    : { code: "internal_error", message: "the worker failed while running this task" };
  const attemptsAllowed = job.opts.attempts ?? 1;
  const moreAttempts = job.attemptsMade + 1 < attemptsAllowed;
  if (providerError?.retryable && moreAttempts) {
    logger.warn({ err: error }, "retryable provider failure; the task will be retried");
    if (await deps.tasks.releaseForRetry(taskId, attempt, summary)) {
      relay.push({ type: "status", status: "PENDING", attempt, error: summary });
      await relay.flush();
    }
    throw error;
  }
  if (providerError) logger.warn({ err: error }, "task failed");
  else logger.error({ err: error }, "task failed with an unexpected error");
  await finishFailed(deps, relay, taskId, attempt, summary);
  throw new UnrecoverableError(summary.message);
}
