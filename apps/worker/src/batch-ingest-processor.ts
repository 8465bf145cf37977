import { setImmediate as nextTurn } from "node:timers/promises";
import { type Logger, type ModelsConfig, jsonlLines, taskTokenBudget } from "@llmq/core";
import { BATCH_ENDPOINTS, type BatchEndpoint, type BatchLineError, MAX_BATCH_REQUESTS, isBatchLineError, parseBatchLine } from "@llmq/contract";
import { type BatchRecord, type BatchRepository, type BatchTask, type BatchTokenLimits, type FileRepository, batchTaskOf } from "@llmq/db";
import type { TaskEngine } from "@llmq/engine";
import { BATCH_PRIORITY, type IngestLeases, type TokenUsage, jobCatalog } from "@llmq/queue";
import { DelayedError, type Job } from "bullmq";

export interface IngestDeps {
  /** Reads of the batch and its reservation; its state changes go through the engine. */
  batches: BatchRepository;
  engine: Pick<TaskEngine, "tasks" | "batches">;
  files: FileRepository;
  models: ModelsConfig;
  /** Daily token counters: a batch reserves its budget here before any of its tasks exists (the engine's listeners settle it). */
  tokenUsage: Pick<TokenUsage, "reserve" | "add">;
  /** One ingest per user at a time, across workers (fairness between users). */
  leases: IngestLeases;
  /** The longest line read (BODY_LIMIT: a request of a batch is no bigger than an interactive one). */
  maxLineBytes: number;
  logger: Logger;
}

/** Lines held in memory between two inserts (and enqueues). */
const CHUNK = 1_000;
/** OpenAI reports at most this many line errors; the count of the rest is in the last message. */
const MAX_REPORTED_ERRORS = 100;
/** Lines checked between two turns of the event loop, so other ingests and this worker's tasks keep going. */
const LINES_PER_TURN = 500;
/** How long an ingest waits while its user's other ingest runs, before it asks again. */
const TURN_WAIT_MS = 500;

/**
 * Turns a validating batch into tasks, at most one batch of a user at a time over every worker (another
 * of the same user goes back to wait, delayed, without spending an attempt), so one user's large files
 * never hold back another user's batch while ingest slots are free.
 */
export function createBatchIngestProcessor(deps: IngestDeps) {
  return async function ingestBatch(job: Job, token?: string): Promise<void> {
    const { batchId } = jobCatalog["batch-ingest"].payload.parse(job.data);
    const batch = await deps.batches.findById(batchId);
    if (!batch || batch.status !== "validating" || !batch.inputFileId) return;
    if (!(await deps.leases.acquire(batch.ownerId, batch.id))) {
      if (!token) throw new Error(`batch ${batchId}: its owner's other ingest is running`);
      await job.moveToDelayed(Date.now() + TURN_WAIT_MS + Math.floor(Math.random() * TURN_WAIT_MS), token);
      throw new DelayedError();
    }
    const release = deps.leases.hold(batch.ownerId, batch.id, (error) => deps.logger.warn({ err: error, batchId }, "could not renew or release the ingest lease"));
    try {
      await ingest(deps, batch);
    } finally {
      await release();
    }
  };
}

/**
 * Pass one reads the file and checks every line (a file with any bad line fails the batch, creating
 * nothing; a line longer than `maxLineBytes` or past MAX_BATCH_REQUESTS requests stops the reading there),
 * adding up the batch's token budget; the budget is reserved against the key's and the user's daily
 * tokens (refused: the batch fails with `token_quota_exceeded`). Pass two inserts the tasks and enqueues
 * their jobs in chunks, with ids derived from the batch and line, so a crash and a rerun create nothing twice.
 */
async function ingest(deps: IngestDeps, batch: BatchRecord): Promise<void> {
  const batchId = batch.id;
  const endpoint = batch.endpoint as BatchEndpoint;
  if (!BATCH_ENDPOINTS.includes(endpoint)) throw new Error(`batch ${batchId} has unknown endpoint ${batch.endpoint}`);
  const fileId = batch.inputFileId!;
  const lines = () => jsonlLines(deps.files.content(fileId), { maxLineBytes: deps.maxLineBytes });

  const errors: BatchLineError[] = [];
  let errorCount = 0;
  let requests = 0;
  let budget = 0;
  let stop: BatchLineError | null = null;
  const customIds = new Set<string>();
  for await (const { line, text } of lines()) {
    if (text === null) {
      stop = { code: "line_too_long", message: `Line ${line} is longer than ${deps.maxLineBytes} bytes, the largest request this service takes; the rest of the file was not read.`, param: null, line };
      break;
    }
    if (text.trim() === "") continue;
    requests += 1;
    if (requests > MAX_BATCH_REQUESTS) {
      stop = { code: "too_many_requests", message: `Line ${line} holds request ${requests}: a batch holds at most ${MAX_BATCH_REQUESTS} requests; the rest of the file was not read.`, param: null, line };
      break;
    }
    if (requests % LINES_PER_TURN === 0) await nextTurn();
    const parsed = parseBatchLine(text, line, endpoint, deps.models);
    const problem: BatchLineError | null = isBatchLineError(parsed)
      ? parsed
      : customIds.has(parsed.customId)
        ? { code: "duplicate_custom_id", message: `Line ${line}: custom_id '${parsed.customId}' is used twice.`, param: "custom_id", line }
        : null;
    if (!isBatchLineError(parsed)) {
      customIds.add(parsed.customId);
      budget += taskTokenBudget(parsed.task);
    }
    if (problem) {
      errorCount += 1;
      if (errors.length < MAX_REPORTED_ERRORS) errors.push(problem);
    }
  }
  if (errorCount > errors.length) {
    errors.push({ code: "too_many_errors", message: `${errorCount - errors.length} more lines are invalid.`, param: null, line: 0 });
  }
  if (stop) errors.push(stop);
  else if (requests === 0) errors.push({ code: "empty_file", message: "The input file holds no requests.", param: null, line: 0 });
  if (errors.length > 0) {
    await failBatch(deps, batchId, errors);
    deps.logger.info({ batchId, errorCount, stoppedAt: stop?.code }, "batch failed validation");
    return;
  }
  if (!(await reserve(deps, batch, budget))) return;

  // Known now: progress shown while the tasks go in counts against the real total.
  await deps.engine.batches.setTotal(batchId, requests);
  let index = -1;
  let chunk: BatchTask[] = [];
  let cancelled = false;
  const flush = async () => {
    if (chunk.length === 0) return;
    await deps.engine.tasks.createForBatch(batchId, chunk);
    // Cancelled meanwhile: the rows still go in (each line gets its `batch_cancelled` result), but no job
    // is enqueued any more, so none of them can start before they are closed below.
    cancelled ||= (await deps.batches.findById(batchId))?.status !== "validating";
    if (!cancelled) await deps.engine.tasks.enqueueBatch(chunk);
    chunk = [];
  };
  for await (const { line, text } of lines()) {
    if (text === null) throw new Error(`batch ${batchId}: line ${line} changed between passes`);
    if (text.trim() === "") continue;
    index += 1;
    const parsed = parseBatchLine(text, line, endpoint, deps.models);
    if (isBatchLineError(parsed)) throw new Error(`batch ${batchId}: line ${line} changed between passes`);
    chunk.push(batchTaskOf(batch, parsed, index));
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  // Cancelled while we read: none of its items may run (the engine closes them).
  if (!(await deps.engine.batches.start(batch, index + 1))) return;
  deps.logger.info({ batchId, requests: index + 1, reservedTokens: budget }, "batch ingested");
}

/** validating -> failed with these error lines (the engine's listeners send its webhook and settle any reservation). */
async function failBatch(deps: IngestDeps, batchId: string, errors: BatchLineError[]): Promise<void> {
  await deps.engine.batches.fail(batchId, { object: "list", data: errors });
}

/**
 * Reserves the batch's token budget against its key's and its user's counters for today, under the
 * limits it was admitted with; false when the batch must not go on (refused: it has failed; cancelled
 * meanwhile: the reservation is given back). A batch without limits (the admin key's) reserves nothing,
 * and a rerun of an ingest whose reservation was recorded does not reserve again.
 */
async function reserve(deps: IngestDeps, batch: BatchRecord, budget: number): Promise<boolean> {
  const limits = batch.tokenLimits as BatchTokenLimits | null;
  if (!limits || batch.reservedTokens !== null) return true;
  const subjects = { userId: batch.ownerId, keyId: batch.apiKeyId };
  const at = new Date();
  const refusal = await deps.tokenUsage.reserve(subjects, budget, limits, at);
  if (refusal) {
    const whose = refusal.limit === "key" ? "this key" : "this user (all its keys and sessions)";
    const left = Math.max(0, refusal.tokensPerDay - refusal.used);
    const message = `The batch needs up to ${budget} tokens (each request's prompt estimate plus max_tokens), and ${whose} has ${left} of its ${refusal.tokensPerDay} tokens for today (UTC) left.`;
    await failBatch(deps, batch.id, [{ code: "token_quota_exceeded", message, param: null, line: 0 }]);
    deps.logger.info({ batchId: batch.id, budget, limit: refusal.limit }, "batch refused: token quota");
    return false;
  }
  if (await deps.batches.recordReservation(batch.id, budget, at)) return true;
  // Not validating any more (cancelled while we read), or reserved by another run: this reservation goes back.
  await deps.tokenUsage.add(subjects, -budget, at);
  return (await deps.batches.findById(batch.id))?.status === "validating";
}
