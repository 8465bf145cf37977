import { ConflictError, type Logger, type ModelsConfig, NotFoundError, PermissionError, RateLimitError, type StoredWebhook, ValidationError, newBatchId, taskTokenBudget } from "@llmq/core";
import { MAX_BATCH_REQUESTS, windowMs } from "@llmq/contract";
import { type BatchRecord, type BatchRefusal, type BatchRepository, type FileRepository, type NewBatch, type NewTask, type TaskRepository, type Viewer, batchTaskId, batchTaskOf } from "@llmq/db";
import type { TaskEngine } from "@llmq/engine";
import { BATCH_PRIORITY, type BatchJobs, type ServiceTier, type TokenUsage } from "@llmq/queue";
import type { NativeBatchRequest } from "../native-batches/batch-request";
import { fairShareWeightOf } from "./limits";
import { type Submitter, type TaskService, tokenQuotaExceeded } from "./task-service";

/**
 * The tier a native batch's items run at: `flex` (batch work), unless an operator gave the batch a
 * priority above the batch default (a number below BATCH_PRIORITY, as BullMQ counted): then `default`,
 * as interactive calls.
 */
function batchTier(priority: number | undefined): ServiceTier {
  return priority !== undefined && priority < BATCH_PRIORITY ? "default" : "flex";
}

export interface BatchServiceDeps {
  batches: BatchRepository;
  tasks: TaskRepository;
  files: FileRepository;
  batchJobs: BatchJobs;
  models: ModelsConfig;
  taskService: TaskService;
  /** The engine: every batch and task state change goes through it. */
  engine: Pick<TaskEngine, "tasks" | "batches">;
  /** Daily token counters: batches reserve their budget when admitted (the engine's listeners settle it when they end). */
  tokenUsage: Pick<TokenUsage, "reserve" | "add">;
  /** Open batches a user may have at once, both kinds (MAX_OPEN_BATCHES_PER_USER; 0: no cap; the admin key: none). */
  maxOpenBatchesPerUser: number;
  logger: Logger;
}

/** A native batch as created: its row and its task ids in request order. */
interface CreatedNativeBatch {
  batch: BatchRecord;
  taskIds: string[];
}

/** Items mapped per event-loop turn: 50,000 task rows (each id a SHA-256) would hold the loop for a quarter second. */
const MAP_SLICE = 2_500;

/** `items.map(fn)`, a slice per event-loop turn so other requests are answered in between. */
async function mapInSlices<T, R>(items: readonly T[], fn: (item: T, index: number) => R): Promise<R[]> {
  const out: R[] = [];
  for (let start = 0; start < items.length; start += MAP_SLICE) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    for (let index = start; index < Math.min(items.length, start + MAP_SLICE); index++) out.push(fn(items[index]!, index));
  }
  return out;
}

/** Tokens reserved for a batch, and when (the UTC day they went to). */
interface Reservation {
  tokens: number;
  at: Date;
}

/** Seconds a client refused for having too many open batches is told to wait: batches take a while to end. */
const OPEN_BATCHES_RETRY_SECONDS = 30;

/** Creating, reading and cancelling batches; workers ingest and finish them. */
export class BatchService {
  constructor(private readonly deps: BatchServiceDeps) {}

  /**
   * A batch whose requests come in the call (`POST /v1/ai/batches`), every item already checked (one bad
   * item refused the whole batch, see parseNativeBatch): the batch and its tasks are committed and enqueued.
   */
  async createNative(owner: Submitter, request: NativeBatchRequest, options: { webhook?: StoredWebhook | null; id?: string } = {}): Promise<CreatedNativeBatch> {
    // Tenants choose among service tiers, never a place ahead of each other: their batches run at the batch tier.
    if (request.priority !== undefined && !owner.isAdmin) {
      throw new PermissionError("priority: only the admin sets a batch's priority; leave it out (batches run after interactive calls, at the batch tier).", { param: "priority" });
    }
    const prepared = request.items;
    const reservation = await this.reserveTokens(owner, prepared.reduce((sum, item) => sum + taskTokenBudget(item.task), 0));
    const batch = await this.createWithinLimits(owner, reservation, {
      id: options.id ?? newBatchId(),
      ownerId: owner.userId,
      kind: "native",
      endpoint: "/v1/ai/text_completion",
      inputFileId: null,
      completionWindow: request.completion_window,
      metadata: null,
      expiresAt: new Date(Date.now() + windowMs(request.completion_window)),
      // Until every task is in: a batch in_progress with no open task would be finished by the sweeper.
      status: "validating",
      totalCount: prepared.length,
      webhook: options.webhook ?? null,
      apiKeyId: owner.keyId,
      reservedTokens: reservation?.tokens ?? null,
      reservedAt: reservation?.at ?? null,
    });
    // A line's own service_tier holds; the others run at the batch's tier (flex, or default when the
    // admin gave the batch a priority above the batch default). Stored so, the sweeper re-enqueues them so.
    const tier = batchTier(request.priority);
    const rows = await mapInSlices(prepared, (line, index) => ({ ...batchTaskOf(batch, line, index), tier: line.task.tier ?? tier }));
    const { engine } = this.deps;
    try {
      await engine.tasks.createForBatch(batch.id, rows);
    } catch (error) {
      // Not acknowledged, so not kept: the tasks go with their batch (cascade), its reservation goes back.
      await engine.batches.discard(batch.id).catch(() => undefined);
      await this.giveBack(owner, reservation);
      throw error;
    }
    // Cancelled while its rows went in (an admin listing it): none of its items may run (the engine closes them).
    if (await engine.batches.start(batch, rows.length)) await this.enqueue(batch.id, rows, fairShareWeightOf(owner.quota));
    return { batch: await this.get(owner, batch.id), taskIds: rows.map((row) => row.id) };
  }

  /**
   * Reserves a batch's token budget against today's counters of the caller's key and user; 429
   * `token_quota_exceeded` when it would pass either limit (nothing is written then). Null for the admin
   * key, which no quota limits.
   */
  private async reserveTokens(owner: Submitter, tokens: number): Promise<Reservation | null> {
    const quota = owner.quota;
    if (!quota) return null;
    const at = new Date();
    const refusal = await this.deps.tokenUsage.reserve({ userId: owner.userId, keyId: owner.keyId }, tokens, { key: quota.key?.tokensPerDay ?? 0, user: quota.user.tokensPerDay }, at);
    if (refusal) {
      const whose = refusal.limit === "key" ? "this key" : "this user (all its keys and sessions)";
      const left = Math.max(0, refusal.tokensPerDay - refusal.used);
      throw tokenQuotaExceeded(`The batch needs up to ${tokens} tokens (each request's prompt estimate plus max_tokens), and ${whose} has ${left} of its ${refusal.tokensPerDay} tokens for today (UTC) left.`);
    }
    return { tokens, at };
  }

  /** Gives back a reservation whose batch was never created. */
  private async giveBack(owner: Submitter, reservation: Reservation | null): Promise<void> {
    if (!reservation) return;
    await this.deps.tokenUsage
      .add({ userId: owner.userId, keyId: owner.keyId }, -reservation.tokens, reservation.at)
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, "could not give back a batch's token reservation"));
  }

  /**
   * Creates the batch row unless the caller's user already has MAX_OPEN_BATCHES_PER_USER open batches
   * (429 `too_many_open_batches`; the admin key has no cap) or its input file is held by an open batch
   * (409 `file_in_use`); a refused batch's reservation is given back.
   */
  private async createWithinLimits(owner: Submitter, reservation: Reservation | null, batch: NewBatch): Promise<BatchRecord> {
    let created: BatchRecord | BatchRefusal;
    try {
      created = await this.deps.engine.batches.create(batch, owner.quota ? this.deps.maxOpenBatchesPerUser : 0);
    } catch (error) {
      await this.giveBack(owner, reservation);
      throw error;
    }
    if (!("refused" in created)) return created;
    await this.giveBack(owner, reservation);
    if (created.refused === "file_in_use") {
      throw new ConflictError(`input_file_id: batch ${created.batchId} on file ${batch.inputFileId} has not ended; a file feeds one open batch at a time (cancel that batch, wait for it to end, or upload the file again).`, {
        param: "input_file_id",
        code: "file_in_use",
      });
    }
    throw new RateLimitError(`This user already has ${created.open} open batches, the most it may have at once (MAX_OPEN_BATCHES_PER_USER); retry when one has ended.`, {
      code: "too_many_open_batches",
      retryAfterSeconds: OPEN_BATCHES_RETRY_SECONDS,
    });
  }

  /** Enqueues the batch's tasks on their run queues (each at its row's tier); one lost here is enqueued again by the sweeper (the rows are committed). */
  private async enqueue(batchId: string, rows: readonly NewTask[], weight: number): Promise<void> {
    try {
      await this.deps.engine.tasks.enqueueBatch(rows, { weight });
    } catch (error) {
      this.deps.logger.warn({ err: error, batchId }, "batch enqueue failed; the sweeper will enqueue its tasks");
    }
  }

  /** Checks the input file and creates the batch as `validating`; a worker checks each line and creates its tasks. */
  async createFromFile(
    owner: Submitter,
    request: { input_file_id: string; endpoint: string; completion_window: string; metadata?: Record<string, string> | null },
    options: { webhook?: StoredWebhook | null; id?: string } = {},
  ): Promise<BatchRecord> {
    const file = await this.deps.files.findVisible(request.input_file_id, owner);
    if (!file) throw new NotFoundError(`No file with id '${request.input_file_id}'.`, { param: "input_file_id", code: "file_not_found" });
    if (file.purpose !== "batch") {
      throw new ValidationError(`input_file_id: file ${file.id} has purpose '${file.purpose}', not 'batch'.`, { param: "input_file_id" });
    }
    // The line count recorded at upload (blank lines included) bounds the requests; the ingest counts them exactly.
    if (file.lines > MAX_BATCH_REQUESTS) {
      throw new ValidationError(`input_file_id: file ${file.id} has ${file.lines} lines; a batch holds at most ${MAX_BATCH_REQUESTS} requests. Split it into several files.`, {
        param: "input_file_id",
        code: "too_many_requests",
      });
    }
    await this.deps.taskService.checkTokenQuota(owner);
    const quota = owner.quota;
    const batch = await this.createWithinLimits(owner, null, {
      id: options.id ?? newBatchId(),
      ownerId: owner.userId,
      kind: "openai",
      endpoint: request.endpoint,
      inputFileId: file.id,
      completionWindow: request.completion_window,
      metadata: request.metadata ?? null,
      expiresAt: new Date(Date.now() + windowMs(request.completion_window)),
      status: "validating",
      webhook: options.webhook ?? null,
      apiKeyId: owner.keyId,
      // The ingest, which reads the file, reserves the batch's tokens under the limits in force now.
      tokenLimits: quota ? { key: quota.key?.tokensPerDay ?? 0, user: quota.user.tokensPerDay } : null,
    });
    // If this enqueue is lost, the sweeper finds the batch still validating with no job and enqueues it.
    await this.deps.batchJobs.enqueueIngest(batch.id).catch((error: unknown) => this.deps.logger.warn({ err: error, batchId: batch.id }, "ingest enqueue failed; the sweeper will retry"));
    return batch;
  }

  /** A native batch as its creation answered it, for a repeated request (Idempotency-Key); null if it does not exist (yet). */
  async findNative(viewer: Viewer, batchId: string): Promise<CreatedNativeBatch | null> {
    const batch = await this.deps.batches.findVisible(batchId, viewer);
    if (!batch) return null;
    return { batch, taskIds: Array.from({ length: batch.totalCount }, (_, index) => batchTaskId(batch.id, index)) };
  }

  async get(viewer: Viewer, batchId: string): Promise<BatchRecord> {
    const batch = await this.deps.batches.findVisible(batchId, viewer);
    if (!batch) throw new NotFoundError(`No batch with id '${batchId}'.`, { param: "batch_id", code: "batch_not_found" });
    return batch;
  }

  /**
   * Stops a batch: queued items never run (CANCELLED at once), running ones are cancelled with their
   * upstream requests, finished ones are kept. The batch is `cancelling` until nothing runs, then `cancelled`.
   */
  async cancel(viewer: Viewer, batchId: string): Promise<BatchRecord> {
    const batch = await this.get(viewer, batchId);
    if ((await this.deps.engine.batches.cancel(batch)) === "not_cancellable") {
      throw new ConflictError(`Batch ${batch.id} is ${batch.status} and cannot be cancelled.`, { code: "batch_not_cancellable" });
    }
    return this.get(viewer, batchId);
  }
}
