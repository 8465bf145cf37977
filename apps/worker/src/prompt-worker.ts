import { AsyncFifoQueue, type Job, Worker } from "bullmq";

/**
 * The parts of BullMQ's Worker that its fetch loop uses. They are private in its type declarations, so
 * they are named here; `prompt-worker.test.ts` fails if a BullMQ upgrade renames or drops one of them
 * (bullmq is pinned: review this file when it moves).
 */
interface WorkerInternals {
  closing: Promise<void> | null;
  paused: boolean;
  waiting: Promise<number> | null;
  blockUntil: number;
  _concurrency: number;
  mainLoopQueue: AsyncFifoQueue<Job | void> | null;
  isRateLimited(): boolean;
  waitForRateLimit(): Promise<void>;
  retryIfFailed<T>(fn: () => Promise<T>, options: { delayInMs: number; onlyEmitError?: boolean }): Promise<T>;
  _getNextJob(token: string, options: { block: boolean }): Promise<Job | undefined>;
  processJob(job: Job, token: string, fetchNext: () => boolean): Promise<Job | void>;
  id: string;
  opts: { runRetryDelay: number };
}

/** The members the fetch loop below needs, checked once when the module loads. */
export const WORKER_INTERNALS = ["_getNextJob", "retryIfFailed", "isRateLimited", "waitForRateLimit", "processJob", "mainLoop"] as const;

/**
 * A BullMQ Worker that starts each job as soon as it is fetched. BullMQ 6's `Worker.mainLoop` fetches
 * jobs one round trip at a time until it holds `concurrency` of them (or the queue is empty) and only
 * then starts the first: a burst of N waits for N sequential fetches before any job runs, and even a
 * lone job on an idle worker waits for one more fetch (the one that finds the queue empty) before its
 * processor is called. Here the loop hands each fetched job to its processor at once and fetches the
 * next while it runs. Everything else is BullMQ's loop unchanged: the same fetches, the same blocking
 * wait when the queue is empty, the same concurrency bound, locks and completions.
 */
export class PromptWorker<DataType = unknown, ResultType = unknown, NameType extends string = string> extends Worker<DataType, ResultType, NameType> {}

/** BullMQ 6.7's Worker.mainLoop with one change, marked below. */
async function promptMainLoop(this: WorkerInternals): Promise<void> {
  const asyncFifoQueue = new AsyncFifoQueue<Job | void>();
  this.mainLoopQueue = asyncFifoQueue;
  let tokenPostfix = 0;
  while ((!this.closing && !this.paused) || asyncFifoQueue.numTotal() > 0) {
    while (!this.closing && !this.paused && !this.waiting && asyncFifoQueue.numTotal() < this._concurrency && !this.isRateLimited()) {
      const token = `${this.id}:${tokenPostfix++}`;
      const fetchedJob = this.retryIfFailed(() => this._getNextJob(token, { block: true }), { delayInMs: this.opts.runRetryDelay, onlyEmitError: true });
      asyncFifoQueue.add(fetchedJob);
      if (this.waiting && asyncFifoQueue.numTotal() > 1) break;
      const job = await fetchedJob;
      if (!job && asyncFifoQueue.numTotal() > 1) break;
      if (this.blockUntil) break;
      // The change: a job fetched starts now; the loop comes back for the next one while it runs.
      if (job) break;
    }
    let job: Job | void;
    do {
      job = await asyncFifoQueue.fetch();
    } while (!job && asyncFifoQueue.numQueued() > 0);
    if (job) {
      const token = job.token!;
      asyncFifoQueue.add(this.processJob(job, token, () => asyncFifoQueue.numTotal() <= this._concurrency));
    } else if (asyncFifoQueue.numQueued() === 0) {
      await this.waitForRateLimit();
    }
  }
  if (this.mainLoopQueue === asyncFifoQueue) this.mainLoopQueue = null;
}

const base = Worker.prototype as unknown as Record<string, unknown>;
const missing = WORKER_INTERNALS.filter((name) => typeof base[name] !== "function");
if (missing.length > 0) throw new Error(`bullmq's Worker no longer has ${missing.join(", ")}: review apps/worker/src/prompt-worker.ts`);
Object.defineProperty(PromptWorker.prototype, "mainLoop", { value: promptMainLoop, writable: true, configurable: true });
